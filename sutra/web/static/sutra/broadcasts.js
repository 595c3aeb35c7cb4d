// Broadcasts: the form that starts a flow for many contacts, and a broadcast's live progress
// (polled from /console/api, the REST API's twin, while the page is open).
"use strict";

(() => {
  const { request } = window.sutra;
  const API = "/console/api/broadcasts";
  const notice = document.getElementById("notice");
  const show = (text) => {
    if (!notice) return;
    notice.textContent = text;
    notice.hidden = false;
  };

  // Times are stored in UTC; people read them in their own zone.
  const local = (iso) =>
    new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of document.querySelectorAll("time[data-local]")) {
    time.textContent = local(time.dateTime);
  }

  // --- the form ---
  const form = document.getElementById("broadcast-form");
  if (form) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.getElementById("zone").textContent = `Time in ${zone}, this browser's time zone.`;
    const sendAt = document.getElementById("send-at");
    sendAt.addEventListener("input", () => {
      form.querySelector("input[name=when][value=later]").checked = true;
    });
    document.getElementById("group").addEventListener("change", () => {
      form.querySelector("input[name=who][value=group]").checked = true;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      notice.hidden = true;
      const who = form.querySelector("input[name=who]:checked");
      if (!who) return show("Choose who gets the flow.");
      const body = { flow: document.getElementById("flow").value };
      if (who.value === "chosen") body.contacts = form.dataset.chosen.split(",").filter(Boolean);
      else if (who.value === "filter") body.filter = JSON.parse(form.dataset.filter);
      else body.group = document.getElementById("group").value;
      if (form.querySelector("input[name=when]:checked").value === "later") {
        if (!sendAt.value) return show("Choose the date and time it starts.");
        const at = new Date(sendAt.value);
        if (at <= new Date()) return show("That time has passed: choose a later one, or Now.");
        body.send_at = at.toISOString();
      }
      const button = document.getElementById("start");
      button.disabled = true;
      try {
        const started = await request("POST", API, body);
        window.location.assign(`/broadcasts/${started.id}`);
      } catch (error) {
        show(error.message);
        button.disabled = false;
      }
    });
  }

  // --- a broadcast's progress ---
  const card = document.getElementById("broadcast");
  if (card) {
    const id = card.dataset.id;
    const badge = card.querySelector("[data-status]");
    const stateText = document.getElementById("state-text");
    const cancel = document.getElementById("cancel");
    const kinds = { scheduled: "info", starting: "info", started: "ok", failed: "bad" };
    const number = (n) => n.toLocaleString("en");

    function paint(b) {
      for (const cell of card.querySelectorAll("[data-count]")) {
        cell.textContent = number(b[cell.dataset.count]);
      }
      for (const bar of card.querySelectorAll("[data-bar]")) {
        const share = b.total ? (100 * b[bar.dataset.bar]) / b.total : 0;
        bar.style.width = `${share.toFixed(1)}%`;
      }
      badge.textContent = b.status;
      badge.className = `badge ${kinds[b.status] || "plain"}`;
      cancel.hidden = b.status !== "scheduled";
      if (b.status === "scheduled") stateText.textContent = `Starts at ${local(b.send_at)}.`;
      else if (b.status === "starting") stateText.textContent = "Writing its starts…";
      else if (b.status === "started") stateText.textContent = `Started ${local(b.started_at)}.`;
      else if (b.status === "cancelled") stateText.textContent = "Cancelled before its time.";
      else stateText.textContent = `Not started: ${b.error}`;
    }

    async function poll() {
      try {
        paint(await request("GET", `${API}/${id}`));
      } catch (error) {
        show(error.message);
      }
    }
    setInterval(poll, 2000);

    cancel.addEventListener("click", async () => {
      try {
        paint(await request("POST", `${API}/${id}/cancel`));
      } catch (error) {
        show(error.message);
      }
    });
  }
})();

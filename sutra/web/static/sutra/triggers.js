// Triggers: the catch-all flow and the schedules, through /console/api (the REST API's twin);
// each change reloads the page, which shows the triggers as the server now has them.
"use strict";

(() => {
  const { request, show, reloadWith } = window.sutra;
  const API = "/console/api/triggers";

  document.getElementById("catch-all-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const flow = document.getElementById("catch-all").value || null;
    try {
      const saved = await request("PUT", `${API}/catch-all`, { flow });
      reloadWith(
        saved.catch_all
          ? `Messages no flow takes now start ${saved.catch_all.flow_name}.`
          : "No catch-all flow: such messages wait for staff.",
      );
    } catch (error) {
      show(error.message, true);
    }
  });

  const form = document.getElementById("schedule-form");
  const weekly = form.querySelector("input[name=frequency][value=weekly]");
  for (const day of form.querySelectorAll("input[name=day]")) {
    day.addEventListener("change", () => {
      if (day.checked) weekly.checked = true;
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const frequency = form.querySelector("input[name=frequency]:checked").value;
    const days = [...form.querySelectorAll("input[name=day]:checked")].map((d) => d.value);
    if (frequency === "weekly" && !days.length) return show("Choose at least one day.", true);
    const body = {
      flow: document.getElementById("schedule-flow").value,
      group: document.getElementById("schedule-group").value,
      frequency,
      days: frequency === "weekly" ? days : [],
      time: document.getElementById("schedule-time").value,
    };
    if (!body.flow) return show("Choose a flow.", true);
    const end = document.getElementById("schedule-end").value;
    if (end) body.end_date = end;
    const button = document.getElementById("create-schedule");
    button.disabled = true;
    try {
      const made = await request("POST", `${API}/schedules`, body);
      reloadWith(`Schedule made: ${made.description}. Next run ${made.next_run_local}.`);
    } catch (error) {
      show(error.message, true);
      button.disabled = false;
    }
  });

  for (const row of document.querySelectorAll("#schedules tr[data-id]")) {
    const id = row.dataset.id;
    const toggle = row.querySelector("[data-toggle]");
    toggle.addEventListener("click", async () => {
      try {
        const enabled = toggle.dataset.toggle === "on";
        await request("PATCH", `${API}/schedules/${id}`, { enabled });
        reloadWith(enabled ? "Schedule enabled." : "Schedule disabled: it will not run.");
      } catch (error) {
        show(error.message, true);
      }
    });
    row.querySelector("[data-delete]").addEventListener("click", async () => {
      if (!window.confirm("Delete this schedule? The broadcasts it started stay.")) return;
      try {
        await request("DELETE", `${API}/schedules/${id}`);
        reloadWith("Schedule deleted.");
      } catch (error) {
        show(error.message, true);
      }
    });
  }
})();

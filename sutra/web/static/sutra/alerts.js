// The nav's alert count on every page, and the alerts page's "hand back to the flow" buttons.
"use strict";

(() => {
  const EVERY_MS = 30000;
  const badge = document.getElementById("alerts-count");

  async function refresh() {
    try {
      const response = await fetch("/alerts/count", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      badge.textContent = data.more ? `${data.count - 1}+` : String(data.count);
      badge.hidden = data.count === 0;
      badge.title = `${badge.textContent} new alert${data.count === 1 ? "" : "s"}`;
    } catch {
      // Offline for a moment: the next round tries again.
    }
  }

  if (badge) {
    refresh();
    setInterval(() => {
      if (document.visibilityState === "visible") refresh();
    }, EVERY_MS);
  }

  const list = document.getElementById("alert-list");
  const notice = document.getElementById("notice");
  if (!list || !window.sutra) return;
  list.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-replay]");
    if (!button) return;
    button.disabled = true;
    try {
      await window.sutra.request("POST", `/alerts/${button.dataset.replay}/replay`);
      notice.classList.remove("error");
      notice.textContent = "Handed back: the flow gets the message again.";
      button.closest(".alert").remove();
    } catch (error) {
      notice.classList.add("error");
      notice.textContent = error.message;
      button.disabled = false;
    }
    notice.hidden = false;
  });
})();

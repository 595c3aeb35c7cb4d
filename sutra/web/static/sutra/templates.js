// The Templates page: "Sync from WhatsApp" asks the server to fetch the list from Meta, says
// how it went (or what to fix), and shows the new list.
"use strict";

(() => {
  const { request, show, reloadWith } = window.sutra;
  const button = document.getElementById("sync-templates");
  if (!button) return;

  button.addEventListener("click", async () => {
    button.disabled = true;
    const label = button.textContent;
    button.textContent = "Syncing…";
    show("Fetching the templates from the WhatsApp Business Account…", false);
    try {
      const done = await request("POST", "/console/api/templates/sync");
      reloadWith(
        `Synced ${done.synced} template${done.synced === 1 ? "" : "s"} ` +
          `(${done.approved} approved${done.removed ? `, ${done.removed} removed` : ""}).`,
      );
    } catch (error) {
      const detail = error.data && error.data.detail;
      show(typeof detail === "string" ? detail : error.message, true);
      button.disabled = false;
      button.textContent = label;
    }
  });
})();

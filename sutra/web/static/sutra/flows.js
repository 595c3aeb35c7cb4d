// The flow list: create, rename, archive, restore and import flows.
"use strict";

(() => {
  const { request } = window.sutra;
  const notice = document.getElementById("notice");

  function show(text, isError, isWarning) {
    notice.textContent = text;
    notice.classList.toggle("error", Boolean(isError));
    notice.classList.toggle("warn", Boolean(isWarning));
    notice.hidden = false;
  }

  function problems(error) {
    const data = error.data;
    if (data && Array.isArray(data.errors) && data.errors.length) {
      return data.errors.map((e) => `${e.path}: ${e.message}`).join("\n");
    }
    return error.message;
  }

  // --- create ---
  const createForm = document.getElementById("create-form");
  document.getElementById("new-flow").addEventListener("click", () => {
    createForm.hidden = false;
    document.getElementById("create-name").focus();
  });
  createForm.querySelector("[data-cancel]").addEventListener("click", () => {
    createForm.hidden = true;
  });
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const flow = await request("POST", "/flows", {
        name: document.getElementById("create-name").value,
        keywords: document.getElementById("create-keywords").value,
      });
      window.location.assign(flow.edit_url);
    } catch (error) {
      show(error.message, true);
    }
  });

  // --- import ---
  document.getElementById("import-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      const text = await file.text();
      const result = await request("POST", "/flows/import", text);
      const names = result.flows.map((f) => `${f.name} (revision ${f.revision})`).join(", ");
      // Warnings are kept with the flow: the list below shows them, after any reload.
      const count = result.warnings.length;
      const said = count
        ? `Imported ${names}, with ${count} warning${count === 1 ? "" : "s"}: see "What Sutra says" under the flow.`
        : `Imported ${names}.`;
      sessionStorage.setItem("sutra-flows-notice", JSON.stringify({ text: said, warn: count > 0 }));
      window.location.reload();
    } catch (error) {
      show(`${file.name} was not imported:\n${problems(error)}`, true);
    } finally {
      event.target.value = "";
    }
  });

  const pending = sessionStorage.getItem("sutra-flows-notice");
  if (pending) {
    sessionStorage.removeItem("sutra-flows-notice");
    let saved = { text: pending, warn: false };
    try {
      saved = JSON.parse(pending);
    } catch {
      // A plain text notice.
    }
    show(saved.text, false, saved.warn);
  }

  // --- rename, archive, restore ---
  const dialog = document.getElementById("rename-dialog");
  let renaming = null;
  dialog.querySelector("[data-cancel]").addEventListener("click", () => dialog.close());
  document.getElementById("rename-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await request("PATCH", `/flows/${renaming}`, {
        name: document.getElementById("rename-name").value,
        keywords: document.getElementById("rename-keywords").value,
      });
      dialog.close();
      window.location.reload();
    } catch (error) {
      dialog.close();
      show(error.message, true);
    }
  });

  for (const row of document.querySelectorAll("tr[data-uuid]")) {
    const uuid = row.dataset.uuid;
    const rename = row.querySelector("[data-rename]");
    if (rename) {
      rename.addEventListener("click", () => {
        renaming = uuid;
        document.getElementById("rename-name").value = row.dataset.name;
        document.getElementById("rename-keywords").value = row.dataset.keywords || "";
        dialog.showModal();
      });
    }
    for (const [selector, archived, verb] of [
      ["[data-archive]", true, "Archive"],
      ["[data-restore]", false, "Restore"],
    ]) {
      const button = row.querySelector(selector);
      if (!button) continue;
      button.addEventListener("click", async () => {
        if (archived && !window.confirm(`${verb} "${row.dataset.name}"? It stops running.`)) return;
        try {
          await request("PATCH", `/flows/${uuid}`, { archived });
          window.location.reload();
        } catch (error) {
          show(error.message, true);
        }
      });
    }
  }
})();

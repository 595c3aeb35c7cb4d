// The contact pages: bulk group changes on the list, the profile's edits and groups, the
// groups and fields pages. Each change is a JSON call to /console/api (the REST API's twin).
"use strict";

(() => {
  const { request, show, reloadWith } = window.sutra;
  const API = "/console/api";

  async function act(work, done) {
    try {
      const result = await work();
      if (done) done(result);
    } catch (error) {
      show(error.message, true);
    }
  }

  // --- the list: pick contacts, add them to a group or take them out ---
  const bulk = document.getElementById("bulk");
  if (bulk) {
    const boxes = [...document.querySelectorAll(".pick-one")];
    const all = document.getElementById("pick-all");
    const picked = () => boxes.filter((b) => b.checked).map((b) => b.value);
    const refresh = () => {
      const count = picked().length;
      bulk.hidden = count === 0;
      document.getElementById("picked").textContent = `${count} selected`;
      all.checked = count === boxes.length;
    };
    all.addEventListener("change", () => {
      for (const box of boxes) box.checked = all.checked;
      refresh();
    });
    for (const box of boxes) box.addEventListener("change", refresh);
    const select = document.getElementById("bulk-group");
    const name = () => select.options[select.selectedIndex].text;
    document.getElementById("bulk-add").addEventListener("click", () =>
      act(
        () => request("POST", `${API}/groups/${select.value}/contacts`, { add: picked() }),
        (r) => reloadWith(`Added ${r.added} contact${r.added === 1 ? "" : "s"} to ${name()}.`),
      ),
    );
    document.getElementById("bulk-start").addEventListener("click", () => {
      window.location.assign(`/broadcasts/new?contacts=${picked().join(",")}`);
    });
    document.getElementById("bulk-remove").addEventListener("click", () =>
      act(
        () => request("POST", `${API}/groups/${select.value}/contacts`, { remove: picked() }),
        (r) =>
          reloadWith(`Took ${r.removed} contact${r.removed === 1 ? "" : "s"} out of ${name()}.`),
      ),
    );
  }

  // --- the profile ---
  const profile = document.getElementById("contact");
  if (profile) {
    const uuid = profile.dataset.uuid;
    document.getElementById("edit-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const fields = {};
      for (const input of document.querySelectorAll("[data-field]")) {
        fields[input.dataset.field] = input.value;
      }
      act(
        () =>
          request("PATCH", `${API}/contacts/${uuid}`, {
            name: document.getElementById("edit-name").value,
            language: document.getElementById("edit-language").value,
            status: document.getElementById("edit-status").value,
            fields,
          }),
        () => reloadWith("Saved."),
      );
    });
    const add = document.getElementById("add-to-group");
    if (add) {
      add.addEventListener("click", () => {
        const select = document.getElementById("add-group");
        const name = select.options[select.selectedIndex].text;
        act(
          () => request("POST", `${API}/groups/${select.value}/contacts`, { add: [uuid] }),
          () => reloadWith(`Added to ${name}.`),
        );
      });
    }
    for (const button of document.querySelectorAll("[data-remove-group]")) {
      button.addEventListener("click", () =>
        act(
          () =>
            request("POST", `${API}/groups/${button.dataset.removeGroup}/contacts`, {
              remove: [uuid],
            }),
          () => reloadWith(`Taken out of ${button.parentElement.firstChild.textContent}.`),
        ),
      );
    }
  }

  // --- groups ---
  const groupForm = document.getElementById("group-form");
  if (groupForm) {
    groupForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = document.getElementById("group-name").value;
      act(
        () => request("POST", `${API}/groups`, { name }),
        (g) => reloadWith(`Created ${g.name}.`),
      );
    });
    for (const row of document.querySelectorAll("#groups tr[data-uuid]")) {
      const { uuid, name } = row.dataset;
      row.querySelector("[data-rename-group]").addEventListener("click", () => {
        const renamed = window.prompt(`Rename the group "${name}" to:`, name);
        if (!renamed || renamed === name) return;
        act(
          () => request("PATCH", `${API}/groups/${uuid}`, { name: renamed }),
          (g) => reloadWith(`Renamed ${name} to ${g.name}.`),
        );
      });
      row.querySelector("[data-delete-group]").addEventListener("click", () => {
        if (!window.confirm(`Delete the group "${name}"? Its contacts stay.`)) return;
        act(
          () => request("DELETE", `${API}/groups/${uuid}`),
          () => reloadWith(`Deleted ${name}.`),
        );
      });
    }
  }

  // --- fields ---
  const fieldForm = document.getElementById("field-form");
  if (fieldForm) {
    fieldForm.addEventListener("submit", (event) => {
      event.preventDefault();
      act(
        () =>
          request("POST", `${API}/fields`, {
            name: document.getElementById("field-name").value,
            value_type: document.getElementById("field-type").value,
          }),
        (f) => reloadWith(`Added ${f.name} (@fields.${f.key}).`),
      );
    });
    for (const row of document.querySelectorAll("#fields tr[data-key]")) {
      const { key, name } = row.dataset;
      row.querySelector("[data-field-type]").addEventListener("change", (event) =>
        act(
          () => request("PATCH", `${API}/fields/${key}`, { value_type: event.target.value }),
          (f) => show(`${f.name} is now a ${f.value_type} field.`, false),
        ),
      );
      row.querySelector("[data-rename-field]").addEventListener("click", () => {
        const renamed = window.prompt(`Rename the field "${name}" to:`, name);
        if (!renamed || renamed === name) return;
        act(
          () => request("PATCH", `${API}/fields/${key}`, { name: renamed }),
          (f) => reloadWith(`Renamed ${name} to ${f.name}.`),
        );
      });
      row.querySelector("[data-delete-field]").addEventListener("click", () => {
        if (!window.confirm(`Delete the field "${name}"? Contacts keep their values.`)) return;
        act(
          () => request("DELETE", `${API}/fields/${key}`),
          () => reloadWith(`Deleted ${name}.`),
        );
      });
    }
  }
})();

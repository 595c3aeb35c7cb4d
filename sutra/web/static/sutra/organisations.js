// The organisations page (platform administrator): create, disable, enable through
// /console/api/organisations (the REST API's twin); "Open" switches this browser into one.
"use strict";

(() => {
  const { request, show, reloadWith } = window.sutra;
  const API = "/console/api/organisations";
  const form = document.getElementById("organisation-form");

  // A refused value is named by its field ("timezone: unknown time zone ..."), and that
  // field is marked, so the person knows what to fix.
  function problem(error) {
    const detail = error.data && error.data.detail;
    if (Array.isArray(detail) && detail.length) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    return error.message;
  }

  function mark(message) {
    for (const input of form.querySelectorAll("input")) {
      const named = message.startsWith(`${input.name}:`) || message.includes(`; ${input.name}:`);
      input.toggleAttribute("aria-invalid", named);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key, value] of new FormData(form)) {
      if (value !== "" || key === "name" || key === "timezone") body[key] = value;
    }
    const button = document.getElementById("create-organisation");
    button.disabled = true;
    try {
      const made = await request("POST", API, body);
      const who = made.admin ? `, administrator ${made.admin.email}` : "";
      reloadWith(`Organisation ${made.id} (${made.name}) created${who}.`);
    } catch (error) {
      const message = problem(error);
      mark(message);
      show(message, true);
      button.disabled = false;
    }
  });

  for (const row of document.querySelectorAll("#organisations tr[data-id]")) {
    const { id, name } = row.dataset;
    const act = async (what, done) => {
      try {
        await request("POST", `${API}/${id}/${what}`);
        reloadWith(`Organisation ${id} (${name}) ${done}.`);
      } catch (error) {
        show(problem(error), true);
      }
    };
    const disable = row.querySelector("[data-disable]");
    if (disable) {
      disable.addEventListener("click", () => {
        if (!window.confirm(`Disable ${name}? Its webhooks, tokens and staff stop at once.`)) return;
        act("disable", "disabled");
      });
    }
    const enable = row.querySelector("[data-enable]");
    if (enable) enable.addEventListener("click", () => act("enable", "enabled"));
    const open = row.querySelector("[data-open]");
    if (open) {
      open.addEventListener("click", async () => {
        try {
          await request("POST", "/orgs/switch", { organization_id: Number(id) });
          window.location.assign("/settings");
        } catch (error) {
          show(problem(error), true);
        }
      });
    }
  }
})();

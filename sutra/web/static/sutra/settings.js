// The settings page: each form sends what it holds to PATCH /console/api/settings (the REST
// API's twin). Secret fields are sent only when something was typed in them: they are
// write-only, the page never has their values.
"use strict";

(() => {
  const { request, show, reloadWith } = window.sutra;
  const API = "/console/api";
  const NUMBERS = new Set(["llm_monthly_budget", "llm_contact_daily_tokens"]);

  // A refused value is named by its setting ("whatsapp_phone_number_id: ..."), so the person
  // knows which field to fix.
  function problem(error) {
    const detail = error.data && error.data.detail;
    if (Array.isArray(detail) && detail.length) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    return error.message;
  }

  for (const form of document.querySelectorAll(".settings-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const input of form.querySelectorAll("input, select")) {
        if (input.disabled) continue;
        if (input.dataset.secret !== undefined && input.value === "") continue;
        let value = input.value;
        if (NUMBERS.has(input.name)) value = value === "" ? null : Number(value);
        body[input.name] = value;
      }
      try {
        await request("PATCH", `${API}/settings`, body);
        reloadWith("Saved.");
      } catch (error) {
        show(problem(error), true);
      }
    });
  }

  const staffForm = document.getElementById("staff-form");
  if (staffForm) {
    staffForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(staffForm));
      if (!data.password) delete data.password;
      try {
        await request("POST", `${API}/settings/staff`, data);
        reloadWith(`${data.email} added as ${data.role}.`);
      } catch (error) {
        show(problem(error), true);
      }
    });
  }
  for (const button of document.querySelectorAll("[data-remove-staff]")) {
    button.addEventListener("click", async () => {
      const email = button.closest("tr").dataset.email;
      if (!window.confirm(`Take ${email} out of this organisation?`)) return;
      try {
        await request("DELETE", `${API}/settings/staff/${encodeURIComponent(email)}`);
        reloadWith(`${email} removed.`);
      } catch (error) {
        show(problem(error), true);
      }
    });
  }

  const tokenForm = document.getElementById("token-form");
  if (tokenForm) {
    tokenForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const made = await request("POST", `${API}/settings/tokens`, Object.fromEntries(new FormData(tokenForm)));
        // Shown here once; a reload would lose it, so the row is added in place.
        document.getElementById("new-token-value").textContent = made.token;
        document.getElementById("new-token").hidden = false;
        const row = document.createElement("tr");
        row.dataset.uuid = made.uuid;
        for (const text of [made.name, made.role, `…${made.last4}`, made.created_at.slice(0, 10)]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        row.append(document.createElement("td"));
        document.querySelector("#tokens-table tbody").prepend(row);
        tokenForm.reset();
      } catch (error) {
        show(problem(error), true);
      }
    });
  }
  for (const button of document.querySelectorAll("[data-revoke-token]")) {
    button.addEventListener("click", async () => {
      const uuid = button.closest("tr").dataset.uuid;
      if (!window.confirm("Revoke this token? Programs using it stop at once.")) return;
      try {
        await request("DELETE", `${API}/settings/tokens/${uuid}`);
        reloadWith("Token revoked.");
      } catch (error) {
        show(problem(error), true);
      }
    });
  }
})();

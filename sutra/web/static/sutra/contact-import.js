// The contact import: read the file, match its columns, preview what will be stored, then
// import it and follow its progress until every row is stored or refused.
"use strict";

(() => {
  const { cookie } = window.sutra;
  const API = "/console/api/contacts/imports";
  const $ = (id) => document.getElementById(id);
  const notice = $("notice");
  const fileInput = $("import-file");
  let targets = null;
  let checked = null;

  function show(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  // Multipart, so the file goes as it is; the CSRF header as every page change carries.
  async function post(path) {
    const body = new FormData();
    body.append("file", fileInput.files[0]);
    if (targets) body.append("columns", JSON.stringify(targets));
    body.append("country", $("import-country").value);
    body.append("group", $("import-group").value);
    const response = await fetch(path, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
    });
    return answer(response);
  }

  async function answer(response) {
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      throw new Error("signed out");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      // Not JSON: the status says enough.
    }
    if (!response.ok) {
      const detail = data && data.detail;
      if (typeof detail === "string") throw new Error(detail);
      if (Array.isArray(detail) && detail.length) {
        throw new Error(detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; "));
      }
      throw new Error(`${response.status} ${response.statusText}`);
    }
    return data;
  }

  const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

  function cell(row, text, label) {
    const td = row.insertCell();
    td.textContent = text;
    td.dataset.label = label;
    return td;
  }

  function options(preview, column) {
    const list = [
      ["", "Leave out"],
      ["name", "Name"],
      ["phone", "Phone number"],
      ["language", "Language"],
      ["groups", "Groups"],
      ["status", "Status (opted in or out)"],
    ];
    for (const field of preview.fields) {
      list.push([`field:${field.key}`, `Field: ${field.name} (${field.value_type})`]);
    }
    const keys = new Set(preview.fields.map((f) => `field:${f.key}`));
    if (column.target.startsWith("field:") && !keys.has(column.target)) {
      list.push([column.target, `New text field: ${column.header}`]);
    } else if (column.new_field) {
      list.push([column.new_field, `New text field: ${column.header}`]);
    }
    return list;
  }

  function render(preview) {
    checked = preview;
    targets = preview.columns.map((c) => c.target);
    $("mapping").hidden = false;
    const body = $("columns").tBodies[0];
    body.replaceChildren();
    for (const column of preview.columns) {
      const row = body.insertRow();
      cell(row, column.header, "Column").className = "strong";
      cell(row, column.samples.filter(Boolean).join(", "), "Examples").classList.add("soft");
      const td = row.insertCell();
      td.dataset.label = "Import as";
      const select = document.createElement("select");
      select.setAttribute("aria-label", `Import ${column.header} as`);
      select.dataset.column = column.index;
      for (const [value, label] of options(preview, column)) {
        select.add(new Option(label, value, false, value === column.target));
      }
      select.addEventListener("change", () => {
        targets[column.index] = select.value;
        check();
      });
      td.append(select);
    }
    const parts = [
      `${plural(preview.rows, "row")}: ${plural(preview.new_contacts, "new contact")}`,
      `${plural(preview.existing_contacts, "contact")} updated`,
    ];
    if (preview.refused) parts.push(`${plural(preview.refused, "row")} refused`);
    $("summary").textContent = `${parts.join(", ")}.`;
    const refusals = $("refusal-list");
    refusals.replaceChildren(
      ...preview.errors.map((e) => {
        const li = document.createElement("li");
        li.textContent = `Row ${e.row}: ${e.message}`;
        return li;
      }),
    );
    if (preview.refused > preview.errors.length) {
      const li = document.createElement("li");
      li.textContent = `…and ${plural(preview.refused - preview.errors.length, "more row")}.`;
      refusals.append(li);
    }
    $("refusals").hidden = !preview.refused;
    const rows = $("preview").tBodies[0];
    rows.replaceChildren();
    for (const item of preview.preview) {
      const row = rows.insertRow();
      cell(row, item.row, "Row");
      cell(row, item.phone, "Phone").className = "mono";
      cell(row, item.name || "", "Name");
      cell(row, item.language || "", "Language");
      cell(row, item.groups.join(", "), "Groups");
      const fields = Object.entries(item.fields).map(([k, v]) => `${k}: ${v}`);
      cell(row, fields.join("; "), "Fields");
    }
    const button = $("import-button");
    button.disabled = preview.valid === 0;
    button.textContent = `Import ${plural(preview.valid, "contact")}`;
  }

  async function check() {
    show("");
    try {
      render(await post(`${API}/preview`));
    } catch (error) {
      show(error.message);
      $("import-button").disabled = true;
    }
  }

  $("import-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!fileInput.files.length) {
      show("Choose a CSV file first.");
      return;
    }
    check();
  });
  fileInput.addEventListener("change", () => {
    targets = null;
    if (fileInput.files.length) check();
  });
  $("import-country").addEventListener("change", () => fileInput.files.length && check());

  $("import-button").addEventListener("click", async () => {
    show("");
    $("import-button").disabled = true;
    let job;
    try {
      job = await post(API);
    } catch (error) {
      show(error.message);
      $("import-button").disabled = false;
      return;
    }
    $("mapping").hidden = true;
    $("import-form").hidden = true;
    $("progress-card").hidden = false;
    follow(job);
  });

  function progress(job) {
    const bar = $("progress");
    bar.max = Math.max(1, job.total);
    bar.value = job.processed;
    $("progress-text").textContent =
      `${job.processed.toLocaleString()} of ${plural(job.total, "row")}: ` +
      `${job.created.toLocaleString()} new, ${job.updated.toLocaleString()} updated, ` +
      `${job.refused.toLocaleString()} refused`;
  }

  async function follow(job) {
    progress(job);
    while (job.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, 400));
      try {
        job = await answer(await fetch(`${API}/${job.uuid}`, { headers: { Accept: "application/json" } }));
      } catch (error) {
        show(error.message);
        continue;
      }
      progress(job);
    }
    $("progress-title").textContent =
      job.status === "done" ? "Imported" : `Import ${job.status}`;
    const stored = job.created + job.updated;
    let text = `${plural(stored, "contact")} imported (${job.created.toLocaleString()} new, ` +
      `${job.updated.toLocaleString()} updated).`;
    if (job.refused) text += ` ${plural(job.refused, "row")} refused:`;
    if (job.error) text += ` The import stopped: ${job.error}`;
    if (job.status === "interrupted") text += " The server stopped before the end: import the file again.";
    $("result-text").textContent = text;
    $("result-errors").replaceChildren(
      ...job.errors.map((e) => {
        const li = document.createElement("li");
        li.textContent = `Row ${e.row}: ${e.message}`;
        return li;
      }),
    );
    $("result").hidden = false;
  }
})();

// The assistant pages: create, edit (a new version), make a version live, upload and delete
// documents, read a document's passages, try a question. Each is a call to
// /console/api/assistants, the twin of the REST API's /api/v1/assistants.
"use strict";

(() => {
  const { request, cookie, show, reloadWith } = window.sutra;
  const API = "/console/api/assistants";

  async function act(button, work) {
    if (button) button.disabled = true;
    try {
      await work();
    } catch (error) {
      show(error.message, true);
    } finally {
      if (button) button.disabled = false;
    }
  }

  const value = (id) => document.getElementById(id).value;

  // --- the list: a new assistant ---
  const createForm = document.getElementById("create-form");
  if (createForm) {
    createForm.addEventListener("submit", (event) => {
      event.preventDefault();
      act(document.getElementById("create"), async () => {
        const body = {
          name: value("create-name"),
          model: value("create-model"),
          temperature: Number(value("create-temperature") || 0),
          instructions: value("create-instructions"),
        };
        if (value("create-id").trim()) body.id = value("create-id").trim();
        const created = await request("POST", API, body);
        sessionStorage.setItem("sutra-notice", `Created ${created.name}: now upload its documents.`);
        window.location.assign(`/assistants/${encodeURIComponent(created.id)}`);
      });
    });
  }

  // --- one assistant ---
  const page = document.getElementById("assistant");
  if (!page) return;
  const key = encodeURIComponent(page.dataset.key);

  document.getElementById("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(document.getElementById("save"), async () => {
      const live = document.getElementById("edit-live").checked;
      const saved = await request("PATCH", `${API}/${key}`, {
        model: value("edit-model"),
        temperature: Number(value("edit-temperature") || 0),
        instructions: value("edit-instructions"),
        dont_know: value("edit-dont-know"),
        live,
      });
      reloadWith(`Saved as version ${saved.versions}${live ? ", now live" : ""}.`);
    });
  });

  for (const button of document.querySelectorAll("[data-make-live]")) {
    button.addEventListener("click", () =>
      act(button, async () => {
        await request("POST", `${API}/${key}/versions/${button.dataset.makeLive}/live`);
        reloadWith(`Version ${button.dataset.makeLive} is live.`);
      }),
    );
  }

  document.getElementById("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = document.getElementById("upload-file").files[0];
    if (!file) return;
    const progress = document.getElementById("upload-progress");
    progress.textContent = `Reading ${file.name} and cutting it into passages…`;
    progress.hidden = false;
    act(document.getElementById("upload"), async () => {
      const form = new FormData();
      form.append("file", file);
      const response = await fetch(`${API}/${key}/documents`, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
        body: form,
      });
      const data = await response.json().catch(() => null);
      progress.hidden = true;
      if (!response.ok) {
        const detail = data && data.detail;
        throw new Error(typeof detail === "string" ? detail : `${response.status} ${response.statusText}`);
      }
      reloadWith(`Added ${data.name}: ${data.chunks} passages.`);
    });
  });

  for (const button of document.querySelectorAll("[data-delete-document]")) {
    button.addEventListener("click", () => {
      if (!window.confirm(`Delete ${button.dataset.name}? The assistant stops answering from it.`)) return;
      act(button, async () => {
        await request("DELETE", `${API}/${key}/documents/${button.dataset.deleteDocument}`);
        reloadWith(`Deleted ${button.dataset.name}.`);
      });
    });
  }

  const chunks = document.getElementById("chunks");
  for (const button of document.querySelectorAll("[data-show-chunks]")) {
    button.addEventListener("click", () =>
      act(button, async () => {
        const data = await request("GET", `${API}/${key}/documents/${button.dataset.showChunks}/chunks`);
        chunks.replaceChildren();
        const heading = document.createElement("h2");
        heading.textContent = `${data.results.length} passages`;
        chunks.append(heading);
        for (const chunk of data.results) {
          const item = document.createElement("details");
          item.className = "chunk";
          const summary = document.createElement("summary");
          const where = chunk.page ? `page ${chunk.page} · ` : "";
          summary.textContent = `${chunk.position + 1}. ${where}${chunk.section || "(no heading)"}`;
          const text = document.createElement("p");
          text.className = "small";
          text.textContent = chunk.text;
          item.append(summary, text);
          chunks.append(item);
        }
        chunks.hidden = false;
      }),
    );
  }

  document.getElementById("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(document.getElementById("ask"), async () => {
      const answered = await request("POST", `${API}/${key}/ask`, { question: value("ask-question") });
      document.getElementById("answer-text").textContent = answered.answer;
      document.getElementById("answer-mode").textContent = answered.knew
        ? `version ${answered.version}, ${answered.retrieval} retrieval`
        : "the documents do not cover it";
      const list = document.getElementById("passages");
      list.replaceChildren();
      for (const passage of answered.passages) {
        const item = document.createElement("li");
        item.className = passage.cited ? "cited" : "";
        const where = document.createElement("div");
        where.className = "strong small";
        const page = passage.page ? `, page ${passage.page}` : "";
        where.textContent = `${passage.document}${page} — ${passage.section}${passage.cited ? " (cited)" : ""}`;
        const text = document.createElement("div");
        text.className = "small";
        text.textContent = passage.text;
        item.append(where, text);
        list.append(item);
      }
      if (!answered.passages.length) {
        const item = document.createElement("li");
        item.className = "soft";
        item.textContent = "No passage was relevant enough.";
        list.append(item);
      }
      document.getElementById("answer").hidden = false;
    });
  });
})();

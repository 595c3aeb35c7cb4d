// The chats pages: the inbox (/chats) and one chat (/chats/<uuid>). Both poll small JSON
// routes for what changed; the server renders every row and message, the page only places them.
"use strict";

(() => {
  const INBOX_EVERY_MS = 3000;
  const CHAT_EVERY_MS = 2500;
  // A tab nobody looks at asks less often.
  const HIDDEN_EVERY_MS = 10000;

  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  // Times arrive in UTC; staff read them in their own zone.
  function localize(root) {
    const now = new Date();
    for (const el of root.querySelectorAll("time[datetime]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) continue;
      el.title = full.format(when);
      if (el.closest(".chat-row")) {
        el.textContent = sameDay(when, now) ? clock.format(when) : dayMonth.format(when);
      } else {
        el.textContent = sameDay(when, now) ? clock.format(when) : full.format(when);
      }
    }
  }

  function every(task, ms) {
    const run = async () => {
      try {
        await task();
      } catch (error) {
        // The next round tries again; a signed-out page is sent to the sign-in form by sutra.js.
        console.warn("poll failed", error);
      }
      setTimeout(run, document.visibilityState === "visible" ? ms : HIDDEN_EVERY_MS);
    };
    setTimeout(run, ms);
  }

  function problem(error) {
    const detail = error && error.data && error.data.detail;
    if (Array.isArray(detail) && detail.length) {
      return detail
        .map((d) => {
          const field = Array.isArray(d.loc) ? d.loc[d.loc.length - 1] : "";
          const text = String(d.msg || d).replace(/^Value error, /, "");
          return field && field !== "body" ? `${field}: ${text}` : text;
        })
        .join("; ");
    }
    return error.message || String(error);
  }

  // --- the inbox -------------------------------------------------------------------------------

  const list = document.getElementById("chat-list");
  if (list) {
    localize(list);
    let shown = list.innerHTML;
    every(async () => {
      const q = encodeURIComponent(list.dataset.q || "");
      const data = await window.sutra.request("GET", `/chats/inbox?q=${q}`);
      if (data.html !== shown) {
        shown = data.html;
        list.innerHTML = data.html;
        localize(list);
      }
    }, INBOX_EVERY_MS);
  }

  // --- one chat --------------------------------------------------------------------------------

  const chat = document.getElementById("chat");
  if (!chat) return;

  const uuid = chat.dataset.uuid;
  const history = document.getElementById("history");
  const composer = document.getElementById("composer");
  const input = document.getElementById("reply-text");
  const sendButton = document.getElementById("send-reply");
  const errorBox = document.getElementById("chat-error");
  const takeOver = document.getElementById("take-over");
  const handBack = document.getElementById("hand-back");
  const takenBanner = document.getElementById("taken-over");
  const takenBy = document.getElementById("taken-over-by");
  const closedBanner = document.getElementById("window-closed");
  const windowLast = document.getElementById("window-last");
  const templateForm = document.getElementById("template-form");
  let after = Number(chat.dataset.after || 0);
  let since = Number(chat.dataset.since || 0);

  localize(history);
  history.scrollTop = history.scrollHeight;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function nearBottom() {
    return history.scrollHeight - history.scrollTop - history.clientHeight < 80;
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // Put a server-rendered message in place: replace the one with its key (keeping any call
  // that was unfolded), or add it at the end.
  function place(key, html) {
    const fresh = fragment(html);
    if (!fresh) return;
    localize(fresh);
    const old = history.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (old) {
      const open = [...old.querySelectorAll("details")].map((d) => d.open);
      fresh.querySelectorAll("details").forEach((d, i) => {
        d.open = Boolean(open[i]);
      });
      if (old.contains(document.activeElement) && old.querySelector(".label-form")) return;
      old.replaceWith(fresh);
      return;
    }
    const stick = nearBottom();
    document.getElementById("no-messages")?.remove();
    history.append(fresh);
    if (stick) history.scrollTop = history.scrollHeight;
  }

  function applyState(state) {
    const taken = state.taken_over;
    takeOver.hidden = Boolean(taken);
    handBack.hidden = !taken;
    takenBanner.hidden = !taken;
    takenBy.textContent = taken ? taken.by || "staff" : "";
    const open = state.window.open;
    composer.hidden = !open;
    closedBanner.hidden = open;
    if (templateForm) templateForm.hidden = open;
    if (!open && state.window.last_inbound_at) {
      windowLast.textContent = full.format(new Date(state.window.last_inbound_at));
    }
  }

  let polling = null;
  async function poll() {
    if (polling) return polling;
    polling = (async () => {
      const seen = document.visibilityState === "visible" ? "1" : "0";
      const data = await window.sutra.request(
        "GET",
        `/chats/${uuid}/poll?after=${after}&since=${since}&seen=${seen}`,
      );
      for (const item of data.items) place(item.key, item.html);
      after = data.after;
      since = data.since;
      applyState(data.state);
    })();
    try {
      await polling;
    } finally {
      polling = null;
    }
  }

  if (chat.dataset.live === "1") every(poll, CHAT_EVERY_MS);

  async function act(path, body) {
    showError("");
    try {
      return await window.sutra.request("POST", path, body);
    } catch (error) {
      showError(problem(error));
      return null;
    }
  }

  takeOver.addEventListener("click", async () => {
    const state = await act(`/chats/${uuid}/takeover`);
    if (state) applyState(state);
  });

  handBack.addEventListener("click", async () => {
    const state = await act(`/chats/${uuid}/handback`);
    if (state) applyState(state);
  });

  function grow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }
  input.addEventListener("input", grow);
  input.addEventListener("keydown", (event) => {
    // Enter sends, as in WhatsApp; Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    sendButton.disabled = true;
    try {
      const sent = await act(`/chats/${uuid}/messages`, { text });
      if (sent) {
        place(sent.key, sent.html);
        history.scrollTop = history.scrollHeight;
        input.value = "";
        grow();
      } else {
        await poll().catch(() => {});
      }
    } finally {
      sendButton.disabled = false;
      input.focus();
    }
  });

  // Templates (outside the 24-hour window): one input per body variable, and the text as the
  // contact will read it, filled in as staff type.
  if (templateForm) {
    const choices = JSON.parse(document.getElementById("templates-data").textContent);
    const choice = document.getElementById("template-choice");
    const fields = document.getElementById("template-variables");
    const preview = document.getElementById("template-preview");
    const sendTemplate = document.getElementById("send-template");
    const placeholder = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

    const chosen = () => choices[Number(choice.value)];
    const values = () => [...fields.querySelectorAll("input")].map((i) => i.value);

    function showPreview() {
      const t = chosen();
      const given = Object.fromEntries(t.variables.map((name, i) => [name, values()[i]]));
      const body = t.body.replace(placeholder, (whole, name) => given[name] || whole);
      // As the history will show it: header, body, footer.
      preview.textContent = [t.header, body, t.footer].filter(Boolean).join("\n\n");
    }

    function showFields() {
      fields.replaceChildren();
      for (const name of chosen().variables) {
        const label = document.createElement("label");
        label.className = "field";
        const caption = document.createElement("span");
        caption.textContent = `{{${name}}}`;
        const field = document.createElement("input");
        field.name = `var-${name}`;
        field.required = true;
        field.maxLength = 1024;
        field.setAttribute("aria-label", `Value of {{${name}}}`);
        field.addEventListener("input", showPreview);
        label.append(caption, field);
        fields.append(label);
      }
      showPreview();
    }

    choice.addEventListener("change", showFields);
    showFields();

    templateForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const t = chosen();
      sendTemplate.disabled = true;
      try {
        const sent = await act(`/chats/${uuid}/templates`, {
          template: t.name,
          language: t.language,
          variables: values(),
        });
        if (sent) {
          // The form keeps what was sent, as its preview shows it, until another is chosen.
          place(sent.key, sent.html);
          history.scrollTop = history.scrollHeight;
        }
      } finally {
        sendTemplate.disabled = false;
      }
    });
  }

  // Labels: "+ label" opens a one-field form in place; × removes one.
  history.addEventListener("click", async (event) => {
    const item = event.target.closest(".item.msg");
    if (!item) return;
    const remove = event.target.closest(".remove-label");
    if (remove) {
      showError("");
      try {
        const label = encodeURIComponent(remove.dataset.label);
        await window.sutra.request(
          "DELETE",
          `/chats/messages/${item.dataset.uuid}/labels/${label}`,
        );
        await poll();
      } catch (error) {
        showError(problem(error));
      }
      return;
    }
    const add = event.target.closest(".add-label");
    if (!add) return;
    const form = document.createElement("form");
    form.className = "label-form";
    form.innerHTML =
      '<input name="label" maxlength="64" required aria-label="New label" placeholder="label">';
    add.replaceWith(form);
    const field = form.querySelector("input");
    field.focus();
    field.addEventListener("keydown", (e) => {
      if (e.key === "Escape") form.replaceWith(add);
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const done = await act(`/chats/messages/${item.dataset.uuid}/labels`, {
        label: field.value,
      });
      if (done) {
        field.blur();
        await poll();
      }
    });
  });
})();

// The Sutra web simulator: chat with a flow as a test contact.
//
// Plain JavaScript with no build step and nothing loaded from the internet, so the page works
// on an offline server. It polls two JSON endpoints (/simulator/api/messages and
// /simulator/api/contact) about twice a second while the page is visible. Everything that came
// from a flow or a contact is put in the page with textContent, never as HTML.
"use strict";

(() => {
  const POLL_MS = 500;
  // A hidden tab still notices replies, but does not keep the server busy for nothing.
  const HIDDEN_POLL_MS = 3000;
  // Mirrors the server's check (letters of any script, digits, "_", ".", "-"): the server
  // stays the judge, this only gives an immediate hint.
  const NAME_RE = /^[\p{L}\p{M}\p{N}_.-]{1,64}$/u;
  const STORAGE_KEY = "sutra.simulator";
  // The server's limit on a voice note (WhatsApp's): checked here first, so nothing too big
  // is uploaded for nothing.
  const MAX_VOICE_BYTES = 16 * 1024 * 1024;
  // A recording stops by itself: a forgotten microphone must not record for ever.
  const MAX_RECORDING_MS = 5 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    startForm: $("start-form"),
    flowSelect: $("flow-select"),
    contactInput: $("contact-input"),
    newContact: $("new-contact"),
    startButton: $("start-button"),
    chat: $("chat"),
    chatEmpty: $("chat-empty"),
    chatTitle: $("chat-title"),
    chatSub: $("chat-sub"),
    typing: $("typing"),
    notice: $("notice"),
    composer: $("composer"),
    messageInput: $("message-input"),
    audioFile: $("audio-file"),
    attachButton: $("attach-button"),
    recordButton: $("record-button"),
    sessionFacts: $("session-facts"),
    sessionNone: $("session-none"),
    resultsTable: $("results-table"),
    resultsBody: $("results-body"),
    resultsNone: $("results-none"),
    fieldsCard: $("fields-card"),
    contactFacts: $("contact-facts"),
    webhookLog: $("webhook-log"),
    webhooksNone: $("webhooks-none"),
  };

  const state = {
    contact: "",
    // Bumped whenever the contact changes, so that late answers about the old one are dropped.
    generation: 0,
    lastId: 0,
    rendered: new Set(),
    lastInboundId: 0,
    polling: false,
    pollTimer: 0,
    // "typing…" is shown from the moment a send or start begins until a poll that started
    // after it finished says nothing is pending; a poll already under way can be stale.
    actionSeq: 0,
    localPending: false,
    localSeq: 0,
    panelSignature: "",
    openDetails: new Set(),
    noticeKind: "",
  };

  // --- helpers -------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(value) {
    // Only web links become href/src: a "javascript:" attachment must stay inert text.
    try {
      const url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime())
      ? ""
      : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined) return "";
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === "csrftoken") return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    // The token the server set at sign-in: every state-changing request must carry it.
    if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
    if (body instanceof FormData) {
      init.body = body; // the browser writes the multipart Content-Type and its boundary
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      // Signed out meanwhile: sign in again and come back here.
      const here = window.location.pathname + window.location.search;
      window.location.assign(`/login?next=${encodeURIComponent(here)}`);
      throw new Error("signed out");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      // Not JSON (a proxy's error page): the status line says enough.
    }
    if (!response.ok) {
      const detail = data && data.detail;
      let message = `${response.status} ${response.statusText}`;
      if (typeof detail === "string") message = detail;
      else if (Array.isArray(detail) && detail.length) {
        message = detail.map((d) => `${(d.loc || []).slice(-1)[0] || "value"}: ${d.msg}`).join("; ");
      }
      throw new Error(message);
    }
    return data;
  }

  function showNotice(text, kind) {
    state.noticeKind = kind || "error";
    ui.notice.textContent = text;
    ui.notice.hidden = false;
  }

  function clearNotice(kind) {
    if (kind && state.noticeKind !== kind) return;
    ui.notice.hidden = true;
    ui.notice.textContent = "";
    state.noticeKind = "";
  }

  function remember() {
    try {
      localStorage.setItem(
        STORAGE_KEY,
        JSON.stringify({ contact: state.contact, flow: ui.flowSelect.value }),
      );
    } catch {
      // Private windows may refuse storage; remembering is only a convenience.
    }
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  // --- flows and contact ---------------------------------------------------------------------

  async function loadFlows(preferred) {
    let flows = [];
    try {
      flows = (await api("GET", "/simulator/api/flows")).flows;
    } catch (error) {
      showNotice(`Could not load the flows: ${error.message}`);
    }
    ui.flowSelect.replaceChildren();
    if (!flows.length) {
      const option = el("option", "", "No flows yet: import one with `sutra import`");
      option.value = "";
      ui.flowSelect.append(option);
      ui.flowSelect.disabled = true;
      ui.startButton.disabled = true;
      return;
    }
    for (const flow of flows) {
      const keywords = flow.keywords.length ? `  (${flow.keywords.join(", ")})` : "";
      const option = el("option", "", flow.name + keywords);
      option.value = flow.uuid;
      ui.flowSelect.append(option);
    }
    if (preferred && flows.some((f) => f.uuid === preferred)) ui.flowSelect.value = preferred;
    ui.flowSelect.disabled = false;
    ui.startButton.disabled = false;
  }

  function setContact(name) {
    name = name.trim();
    if (!NAME_RE.test(name)) {
      showNotice("A contact name is 1 to 64 letters, digits, dots, dashes or underscores.", "name");
      ui.contactInput.value = state.contact;
      return false;
    }
    clearNotice("name");
    ui.contactInput.value = name;
    if (name === state.contact) return true;
    state.contact = name;
    state.generation += 1;
    state.lastId = 0;
    state.lastInboundId = 0;
    state.rendered.clear();
    state.localPending = false;
    state.panelSignature = "";
    for (const node of [...ui.chat.children]) {
      if (node !== ui.chatEmpty && node !== ui.typing) node.remove();
    }
    ui.chatEmpty.hidden = false;
    ui.chatTitle.textContent = "Sutra bot";
    setTyping(false);
    renderPanel({ contact: null, session: null, results: [], webhooks: [], start_error: null });
    remember();
    pollSoon();
    return true;
  }

  // --- the chat ------------------------------------------------------------------------------

  function nearBottom() {
    return ui.chat.scrollHeight - ui.chat.scrollTop - ui.chat.clientHeight < 120;
  }

  function scrollToBottom() {
    ui.chat.scrollTop = ui.chat.scrollHeight;
  }

  function setTyping(on) {
    if (ui.typing.hidden === !on) return;
    const stick = nearBottom();
    ui.typing.hidden = !on;
    if (on && stick) scrollToBottom();
  }

  function renderAttachment(attachment) {
    // RapidPro's form "<type>:<url>", e.g. "image/jpeg:https://...", "geo:12.9,77.5".
    const colon = attachment.indexOf(":");
    const type = colon > 0 ? attachment.slice(0, colon) : "file";
    const value = colon > 0 ? attachment.slice(colon + 1) : attachment;
    const box = el("div", "attachment");
    if (type === "geo") {
      box.append(el("span", "geo", `\u{1F4CD} ${value}`));
      return box;
    }
    const url = safeUrl(value);
    if (url && type.startsWith("image")) {
      const link = el("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const image = el("img");
      image.src = url;
      image.alt = "image attachment";
      image.loading = "lazy";
      link.append(image);
      box.append(link);
    } else if (url && (type.startsWith("audio") || type.startsWith("video"))) {
      // A voice note or a spoken answer plays in the chat, as on the phone.
      const player = el(type.startsWith("audio") ? "audio" : "video");
      player.controls = true;
      player.preload = "metadata";
      player.src = url;
      box.append(player);
    } else if (url) {
      const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "") || url;
      const link = el("a", "file", `\u{1F4CE} ${type.split("/")[0]}: ${name}`);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      box.append(link);
    } else {
      box.append(el("span", "file", `\u{1F4CE} ${attachment}`));
    }
    return box;
  }

  function renderMessage(message) {
    if (state.rendered.has(message.id)) return;
    state.rendered.add(message.id);
    const fromContact = message.direction === "in";
    if (fromContact) state.lastInboundId = Math.max(state.lastInboundId, message.id);

    const row = el("div", `row ${fromContact ? "contact" : "bot"}`);
    row.dataset.id = String(message.id);
    const bubble = el("div", "bubble");
    for (const attachment of message.attachments || []) {
      bubble.append(renderAttachment(attachment));
    }
    if (message.text) bubble.append(el("div", "text", message.text));
    const meta = el("div", "meta", formatTime(message.created_at));
    if (message.status === "failed") {
      meta.append(el("span", "failed", ` \u00B7 not sent${message.error ? `: ${message.error}` : ""}`));
      row.classList.add("is-failed");
    }
    bubble.append(meta);
    row.append(bubble);

    if (!fromContact && message.quick_replies && message.quick_replies.length) {
      const list = message.interactive_type === "list";
      const replies = el("div", `quick-replies${list ? " as-list" : ""}`);
      for (const reply of message.quick_replies) {
        const button = el("button", "quick-reply", reply);
        button.type = "button";
        button.dataset.msgId = String(message.id);
        button.addEventListener("click", () => send(reply));
        replies.append(button);
      }
      row.append(replies);
    }

    // Keep the chat in id order even when an optimistic bubble and a poll cross.
    const later = [...ui.chat.querySelectorAll(".row[data-id]")].find(
      (node) => Number(node.dataset.id) > message.id,
    );
    ui.chat.insertBefore(row, later || ui.typing);
    ui.chatEmpty.hidden = true;
  }

  function addDivider(text, afterId) {
    const divider = el("div", "divider");
    divider.append(el("span", "", text));
    // Before whatever the start produced, even if a poll drew it before this was answered.
    const first = [...ui.chat.querySelectorAll(".row[data-id]")].find(
      (node) => Number(node.dataset.id) > afterId,
    );
    ui.chat.insertBefore(divider, first || ui.typing);
    ui.chatEmpty.hidden = true;
  }

  function refreshQuickReplies() {
    // As on a phone, buttons answer the question being asked now: those above the contact's
    // latest message are spent.
    for (const button of ui.chat.querySelectorAll(".quick-reply")) {
      button.disabled = Number(button.dataset.msgId) < state.lastInboundId;
    }
  }

  function beginAction() {
    state.localPending = true;
    state.localSeq = Number.POSITIVE_INFINITY;
    setTyping(true);
  }

  function endAction(ok) {
    state.actionSeq += 1;
    state.localSeq = state.actionSeq;
    if (!ok) {
      state.localPending = false;
      setTyping(false);
    }
    pollSoon();
  }

  // Sends what the contact typed or said, and shows it at once (the next poll would too).
  async function deliver(path, body, text) {
    beginAction();
    try {
      const sent = await api("POST", path, body);
      renderMessage({
        id: sent.id,
        direction: "in",
        text,
        attachments: sent.attachments || [],
        quick_replies: [],
        status: "received",
        created_at: new Date().toISOString(),
      });
      refreshQuickReplies();
      scrollToBottom();
      clearNotice("send");
      endAction(true);
    } catch (error) {
      showNotice(`Not sent: ${error.message}`, "send");
      endAction(false);
    }
  }

  async function send(text) {
    if (!text.trim() || !setContact(ui.contactInput.value)) return;
    await deliver("/simulator/api/messages", { contact: state.contact, text }, text);
  }

  // --- voice notes ---------------------------------------------------------------------------

  async function sendVoice(blob, filename) {
    if (!setContact(ui.contactInput.value)) return;
    if (blob.size > MAX_VOICE_BYTES) {
      showNotice("Not sent: a voice note is at most 16 MB.", "send");
      return;
    }
    // The server makes it the OGG/Opus voice note WhatsApp would deliver.
    const form = new FormData();
    form.append("contact", state.contact);
    form.append("file", blob, filename);
    await deliver("/simulator/api/voice", form, "");
  }

  const recording = { recorder: null, timer: 0 };

  function canRecord() {
    // Browsers offer the microphone on secure pages only (https, or this machine).
    return Boolean(window.MediaRecorder && navigator.mediaDevices?.getUserMedia);
  }

  function showRecording(on) {
    ui.recordButton.classList.toggle("recording", on);
    ui.recordButton.setAttribute("aria-pressed", String(on));
    ui.recordButton.title = on ? "Stop and send the voice note" : "Record a voice note";
    ui.messageInput.placeholder = on ? "Recording\u2026 press \u25A0 to send" : "Type a message";
  }

  async function toggleRecording() {
    if (recording.recorder) {
      recording.recorder.stop();
      return;
    }
    let stream;
    // Disabled while the browser asks for the microphone: a second click would record twice.
    ui.recordButton.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      showNotice(`Cannot record: ${error.message}`, "send");
      return;
    } finally {
      ui.recordButton.disabled = false;
    }
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      window.clearTimeout(recording.timer);
      for (const track of stream.getTracks()) track.stop();
      recording.recorder = null;
      showRecording(false);
      // WebM/Opus from Chromium and Firefox, MP4/AAC from Safari.
      const type = recorder.mimeType || "audio/webm";
      const name = `voice-note.${type.includes("mp4") ? "m4a" : "webm"}`;
      if (chunks.length) sendVoice(new Blob(chunks, { type }), name);
    });
    recorder.start();
    recording.recorder = recorder;
    recording.timer = window.setTimeout(() => recorder.stop(), MAX_RECORDING_MS);
    showRecording(true);
  }

  async function startFlow(event) {
    event.preventDefault();
    if (!setContact(ui.contactInput.value)) return;
    const flowUuid = ui.flowSelect.value;
    if (!flowUuid) return;
    remember();
    const before = Math.max(0, ...[...state.rendered]);
    // One start per click: a double click would start the flow twice.
    ui.startButton.disabled = true;
    beginAction();
    try {
      const started = await api("POST", "/simulator/api/start", {
        flow_uuid: flowUuid,
        contact: state.contact,
      });
      addDivider(`${started.flow.name} started`, before);
      scrollToBottom();
      clearNotice("start");
      endAction(true);
      ui.messageInput.focus();
    } catch (error) {
      showNotice(`Could not start the flow: ${error.message}`, "start");
      endAction(false);
    } finally {
      ui.startButton.disabled = false;
    }
  }

  // --- the side panel ------------------------------------------------------------------------

  function fact(list, label, value, className) {
    if (value === null || value === undefined || value === "") return;
    list.append(el("dt", "", label));
    const dd = el("dd", className || "");
    if (value instanceof Node) dd.append(value);
    else dd.textContent = String(value);
    list.append(dd);
  }

  const STATUS_TEXT = {
    waiting: "waiting",
    completed: "completed",
    interrupted: "interrupted",
    failed: "failed",
    expired: "expired",
  };
  const WAIT_TEXT = {
    msg: "for a reply",
    webhook: "for a webhook",
    time: "for a timer",
  };

  function sessionLine(session) {
    if (!session) return "no session yet";
    const where = session.flow_name || "a flow";
    if (session.status === "waiting") {
      return `${where} \u00B7 waiting ${WAIT_TEXT[session.wait_kind] || ""}`.trim();
    }
    return `${where} \u00B7 ${STATUS_TEXT[session.status] || session.status}`;
  }

  function badge(text, tone) {
    return el("span", `badge ${tone}`, text);
  }

  function statusTone(status) {
    if (status === "waiting") return "info";
    if (status === "completed") return "ok";
    if (status === "failed" || status === "expired") return "bad";
    return "muted";
  }

  function renderSession(session) {
    ui.sessionFacts.replaceChildren();
    ui.sessionNone.hidden = Boolean(session);
    ui.chatSub.textContent = sessionLine(session);
    if (!session) return;
    const status = el("span");
    status.append(badge(session.status, statusTone(session.status)));
    if (session.status === "waiting" && session.wait_kind) {
      status.append(el("span", "soft", ` ${WAIT_TEXT[session.wait_kind] || session.wait_kind}`));
    }
    fact(ui.sessionFacts, "Status", status);
    fact(ui.sessionFacts, "Flow", session.flow_name || session.flow_uuid);
    fact(ui.sessionFacts, "Started", formatTime(session.created_at));
    if (session.ended_at) fact(ui.sessionFacts, "Ended", formatTime(session.ended_at));
    if (session.failure) fact(ui.sessionFacts, "Failure", session.failure, "error-text");
  }

  function renderResults(results) {
    ui.resultsBody.replaceChildren();
    ui.resultsTable.hidden = !results.length;
    ui.resultsNone.hidden = Boolean(results.length);
    for (const result of results) {
      const row = el("tr");
      const name = el("td", "result-name", result.name);
      name.title = `@results.${result.key}`;
      const value = el("td", "result-value");
      const extra = Object.entries(result.extra || {});
      if (result.value || !extra.length) value.append(el("div", "clamp", result.value));
      // A webhook result has no value: show its fields (@results.<key>.<field>) instead.
      for (const [key, item] of extra) {
        const line = el("div", "extra clamp");
        line.append(el("span", "extra-key", `.${key} `));
        line.append(typeof item === "string" ? item : JSON.stringify(item));
        value.append(line);
      }
      const full = [result.value, ...extra.map(([k, v]) => `.${k} = ${JSON.stringify(v)}`)];
      if (result.input && result.input !== result.value) full.push(`input: ${result.input}`);
      value.title = full.filter(Boolean).join("\n");
      const category = el("td");
      if (result.category) category.append(badge(result.category, "neutral"));
      row.append(name, value, category);
      ui.resultsBody.append(row);
    }
  }

  function renderContact(contact) {
    ui.contactFacts.replaceChildren();
    ui.fieldsCard.hidden = !contact;
    if (!contact) return;
    ui.chatTitle.textContent = contact.name || contact.urn;
    fact(ui.contactFacts, "URN", contact.urn, "mono");
    fact(ui.contactFacts, "Language", contact.language);
    for (const [key, value] of Object.entries(contact.fields || {})) {
      fact(ui.contactFacts, key, value);
    }
    if (contact.groups && contact.groups.length) {
      fact(ui.contactFacts, "Groups", contact.groups.join(", "));
    }
  }

  function renderWebhooks(webhooks) {
    for (const open of ui.webhookLog.querySelectorAll("details[open]")) {
      state.openDetails.add(open.dataset.id);
    }
    ui.webhookLog.replaceChildren();
    ui.webhooksNone.hidden = Boolean(webhooks.length);
    for (const call of webhooks) {
      const item = el("li", "webhook");
      const head = el("div", "webhook-head");
      head.append(el("span", "method", call.method));
      const target = el("span", "target mono", call.url);
      target.title = call.url;
      head.append(target);
      const ok = call.status_code !== null && call.status_code >= 200 && call.status_code < 300;
      head.append(badge(call.status_code === null ? "no answer" : call.status_code, ok ? "ok" : "bad"));
      item.append(head);

      const meta = el("div", "webhook-meta");
      const parts = [formatTime(call.created_at)];
      if (call.result_name) parts.push(`result ${call.result_name}`);
      if (call.duration_ms !== null) parts.push(formatDuration(call.duration_ms));
      if (call.llm_model) parts.push(call.llm_model);
      if (call.prompt_tokens !== null || call.completion_tokens !== null) {
        parts.push(`${call.prompt_tokens ?? 0} + ${call.completion_tokens ?? 0} tokens`);
      }
      meta.textContent = parts.filter(Boolean).join(" \u00B7 ");
      item.append(meta);
      if (call.error) item.append(el("div", "error-text", call.error));

      const details = el("details");
      details.dataset.id = String(call.id);
      details.open = state.openDetails.has(String(call.id));
      details.addEventListener("toggle", () => {
        if (details.open) state.openDetails.add(details.dataset.id);
        else state.openDetails.delete(details.dataset.id);
      });
      details.append(el("summary", "", "Request and response"));
      details.append(el("div", "json-label", "Request"));
      details.append(el("pre", "json", JSON.stringify(call.request, null, 2)));
      details.append(el("div", "json-label", "Response"));
      details.append(el("pre", "json", JSON.stringify(call.response, null, 2)));
      item.append(details);
      ui.webhookLog.append(item);
    }
  }

  function renderPanel(details) {
    // Redrawn only when something changed: a redraw every poll would close open details and
    // lose text the user is selecting.
    const { pending, ...shown } = details;
    const signature = JSON.stringify(shown);
    if (signature === state.panelSignature) return;
    state.panelSignature = signature;
    renderSession(details.session);
    renderResults(details.results);
    renderContact(details.contact);
    renderWebhooks(details.webhooks);
    if (details.start_error) showNotice(`The flow did not start: ${details.start_error}`, "start");
  }

  // --- polling -------------------------------------------------------------------------------

  async function poll() {
    if (state.polling || !state.contact) return;
    state.polling = true;
    const generation = state.generation;
    const seq = state.actionSeq;
    const contact = encodeURIComponent(state.contact);
    try {
      const [messages, details] = await Promise.all([
        api("GET", `/simulator/api/messages?contact=${contact}&after=${state.lastId}`),
        api("GET", `/simulator/api/contact?contact=${contact}`),
      ]);
      if (generation !== state.generation) return;
      clearNotice("poll");
      const stick = nearBottom();
      for (const message of messages.messages) renderMessage(message);
      state.lastId = Math.max(state.lastId, messages.last_id);
      if (messages.messages.length) {
        refreshQuickReplies();
        if (stick || messages.messages.some((m) => m.direction === "out")) scrollToBottom();
      }
      renderPanel(details);
      if (seq >= state.localSeq) state.localPending = false;
      setTyping(messages.pending || details.pending || state.localPending);
    } catch (error) {
      if (generation === state.generation) {
        showNotice(`Lost touch with the server (${error.message}); retrying\u2026`, "poll");
      }
    } finally {
      state.polling = false;
    }
  }

  function schedule(delay) {
    window.clearTimeout(state.pollTimer);
    state.pollTimer = window.setTimeout(tick, delay);
  }

  async function tick() {
    await poll();
    schedule(document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  function pollSoon() {
    schedule(30);
  }

  // --- wiring --------------------------------------------------------------------------------

  async function main() {
    const params = new URLSearchParams(window.location.search);
    const saved = remembered();
    ui.startForm.addEventListener("submit", startFlow);
    ui.contactInput.addEventListener("change", () => setContact(ui.contactInput.value));
    ui.newContact.addEventListener("click", () => {
      setContact(`tester-${Math.random().toString(36).slice(2, 7)}`);
    });
    // The way back to the flow being tried: its editor.
    const editLink = $("edit-flow");
    const pointEdit = () => {
      const uuid = ui.flowSelect.value;
      editLink.hidden = !uuid;
      if (uuid) editLink.href = `/flows/${uuid}/edit`;
    };
    ui.flowSelect.addEventListener("change", remember);
    ui.flowSelect.addEventListener("change", pointEdit);
    ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = ui.messageInput.value;
      if (!text.trim()) return;
      ui.messageInput.value = "";
      send(text);
    });
    ui.attachButton.addEventListener("click", () => ui.audioFile.click());
    ui.audioFile.addEventListener("change", () => {
      const [file] = ui.audioFile.files;
      ui.audioFile.value = ""; // so that the same file can be sent again
      if (file) sendVoice(file, file.name);
    });
    ui.recordButton.hidden = !canRecord();
    ui.recordButton.addEventListener("click", toggleRecording);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) pollSoon();
    });
    await loadFlows(params.get("flow") || saved.flow);
    pointEdit();
    setContact(params.get("contact") || saved.contact || "tester");
    pollSoon();
  }

  main();
})();

// What Sutra's pages share: JSON requests that carry the CSRF token, and signing out.
"use strict";

window.sutra = (() => {
  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  // Every state-changing request must send the token the server set at sign-in.
  async function request(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (method !== "GET") init.headers["X-CSRFToken"] = cookie("csrftoken");
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      // Signed out meanwhile (or the session ran out): sign in and come back.
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
      const detail = data && (data.detail || data.description || data.error);
      let message = `${response.status} ${response.statusText}`;
      if (typeof detail === "string") message = detail;
      else if (Array.isArray(detail) && detail.length) {
        message = detail.map((d) => d.msg || String(d)).join("; ");
      }
      const error = new Error(message);
      error.data = data;
      throw error;
    }
    return data;
  }

  // The page's notice box (#notice): what an action did, or why it failed.
  function show(text, isError) {
    const notice = document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text;
    notice.classList.toggle("error", Boolean(isError));
    notice.hidden = false;
    notice.scrollIntoView({ block: "nearest" });
  }

  // Reload to show a change, with its message shown once the page is back.
  function reloadWith(text) {
    sessionStorage.setItem("sutra-notice", text);
    window.location.reload();
  }

  function showPending() {
    const pending = sessionStorage.getItem("sutra-notice");
    if (pending) {
      sessionStorage.removeItem("sutra-notice");
      show(pending, false);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showPending);
  } else {
    showPending();
  }

  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", async () => {
      try {
        await request("POST", "/logout");
      } finally {
        window.location.assign("/login");
      }
    });
  }

  // The organisation switcher: the same kind of page in the other organisation (an id of
  // this one would be "not found" there).
  const orgSwitch = document.getElementById("org-switch");
  if (orgSwitch) {
    orgSwitch.addEventListener("change", async () => {
      await request("POST", "/orgs/switch", { organization_id: Number(orgSwitch.value) });
      const section = window.location.pathname.split("/")[1] || "flows";
      window.location.assign(`/${section}`);
    });
  }

  return { cookie, request, show, reloadWith };
})();

// "Close ticket" buttons, on the tickets page and on a contact's chat page.
"use strict";

(() => {
  const notice = document.getElementById("ticket-notice") || document.getElementById("notice");
  if (!window.sutra) return;
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-close-ticket]");
    if (!button) return;
    button.disabled = true;
    try {
      const ticket = await window.sutra.request("POST", `/tickets/${button.dataset.closeTicket}/close`);
      const item = button.closest(".ticket");
      const list = item.parentElement;
      item.remove();
      if (list && !list.querySelector(".ticket")) list.closest("[data-tickets]")?.setAttribute("hidden", "");
      if (notice) {
        notice.classList.remove("error");
        notice.textContent = `Ticket “${ticket.topic}” closed.`;
      }
    } catch (error) {
      button.disabled = false;
      if (notice) {
        notice.classList.add("error");
        notice.textContent = error.message;
      }
    }
    if (notice) notice.hidden = false;
  });
})();

// The exhibitor's launch requests: send the form to the API and show the answer (a clash is named in it).
(function () {
  "use strict";
  const form = document.querySelector('[data-role="request-slot"]');
  if (!form || !window.cloudexpo || !window.cloudexpo.api) return;
  const out = form.querySelector('[data-role="request-result"]');
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = Object.fromEntries(new FormData(form).entries());
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await window.cloudexpo.api("POST", "/api/slot-requests", body);
      window.location.reload();
    } catch (e) {
      out.hidden = false;
      out.className = "alert error";
      out.setAttribute("role", "alert");
      out.textContent = e.message;
      button.disabled = false;
    }
  });
})();

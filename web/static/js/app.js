// Cloud Expo — small progressive enhancements shared by every page.
(function () {
  "use strict";
  const toggle = document.querySelector(".nav-toggle");
  const nav = document.getElementById("site-nav");
  if (toggle && nav) {
    toggle.addEventListener("click", function () {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  // Behaviour declared in the markup (the Content-Security-Policy allows no inline handlers).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { if (select.form) select.form.submit(); });
  });
  // Every fetch() from our pages carries the CSRF token of this session.
  const meta = document.querySelector('meta[name="csrf-token"]');
  window.cloudexpo = window.cloudexpo || {};
  window.cloudexpo.csrf = meta ? meta.content : "";
  window.cloudexpo.api = async function (method, url, body) {
    const opts = { method: method, headers: { "X-CSRF-Token": window.cloudexpo.csrf, "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(url, opts);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (!res.ok) { const err = new Error((data && data.detail) || res.statusText); err.status = res.status; err.data = data; throw err; }
    return data;
  };
})();

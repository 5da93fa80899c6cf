// Copy buttons (the go-live page's WHIP URL and token) and the moderators' control room
// buttons. The presenter's console itself is presenter.js.
(function () {
  "use strict";
  const $ = function (sel, root) { return (root || document).querySelector(sel); };

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", async function () {
        const src = document.getElementById(btn.dataset.copy);
        const text = src ? src.textContent.trim() : "";
        try { await navigator.clipboard.writeText(text); } catch (e) {
          const r = document.createRange(); r.selectNodeContents(src); const s = getSelection(); s.removeAllRanges(); s.addRange(r);
          try { document.execCommand("copy"); } catch (e2) { /* selected for manual copy */ }
        }
        const old = btn.textContent; btn.textContent = "✓"; setTimeout(function () { btn.textContent = old; }, 1500);
      });
    });
  }

  function controlRoom() {
    const root = $('[data-role="control"]');
    if (!root) return;
    const errorEl = $('[data-role="error"]');
    let publisherNames = {};
    try { publisherNames = JSON.parse(root.dataset.publisherNames || "{}"); } catch (e) { /* untranslated */ }
    root.addEventListener("click", async function (ev) {
      const btn = ev.target.closest("[data-action]");
      if (!btn) return;
      const slot = btn.closest("[data-slot]").dataset.slot;
      if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
      btn.disabled = true;
      try {
        const res = await window.cloudexpo.api("POST", "/api/slots/" + slot + "/" + btn.dataset.action);
        if (res && res.whip_token) window.prompt(root.dataset.newToken || "New token", res.whip_token);
        location.reload();
      } catch (e) { errorEl.hidden = false; errorEl.textContent = e.message; btn.disabled = false; }
    });
    const refresh = async function () {
      if (!window.cloudexpo || !window.cloudexpo.api) return;
      try {
        const data = await window.cloudexpo.api("GET", "/api/live/status");
        data.stages.forEach(function (st) {
          st.slots.forEach(function (s) {
            const el = root.querySelector('[data-slot="' + s.id + '"]');
            if (!el) return;
            const set = function (f, v) { const d = el.querySelector('[data-field="' + f + '"]'); if (d) d.textContent = v; };
            set("viewers", s.viewers);
            set("publisher", (s.publisher && publisherNames[s.publisher]) || s.publisher || "—");
            set("bitrate", s.stats ? Math.round(s.stats.publisher_bitrate / 1000) + " kbit/s" : "—");
            set("fps", s.stats ? s.stats.fps : "—");
            set("lost", s.stats ? s.stats.packets_lost : "—");
          });
        });
        $('[data-role="updated"]').textContent = window.cloudexpo.when(new Date());
      } catch (e) { /* keep the old figures */ }
    };
    setInterval(refresh, 2000);
  }

  const init = function () { copyButtons(); controlRoom(); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

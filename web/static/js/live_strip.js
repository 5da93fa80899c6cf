// The "Live now / Up next" strip (web/live_strip.py, partials/live_strip.html): reloaded from
// /live/strip whenever one of its slots changes state (over /ws, watch.js's socket), after the
// socket reconnects, and every minute for launches that come into view. Viewer counts update in place.
(function () {
  "use strict";
  const init = function () {
    let strip = document.querySelector("[data-live-strip]");
    if (!strip || !window.cloudexpo || !window.cloudexpo.openSocket) return;
    const ids = function () { return (strip.dataset.slots || "").split(",").filter(Boolean).map(Number); };
    const followed = new Set(ids());
    const socket = window.cloudexpo.openSocket(Array.from(followed));
    let timer = null, opened = 0;
    const reload = async function () {
      timer = null;
      const url = "/live/strip" + (strip.dataset.booth ? "?booth=" + encodeURIComponent(strip.dataset.booth) : "");
      try {
        const res = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        if (!res.ok) return;
        const holder = document.createElement("div");
        holder.innerHTML = await res.text();
        const fresh = holder.querySelector("[data-live-strip]");
        if (!fresh) return;
        strip.replaceWith(fresh);
        strip = fresh;
        if (window.cloudexpo.bindBookmarks) window.cloudexpo.bindBookmarks(strip);
        const added = ids().filter(function (id) { return !followed.has(id); });
        added.forEach(function (id) { followed.add(id); });
        if (added.length) socket.send({ type: "subscribe", slots: added });
        strip.dispatchEvent(new CustomEvent("cloudexpo:strip", { bubbles: true, detail: { slots: ids() } }));
      } catch (e) { /* keep what is shown; the next event or minute tries again */ }
    };
    const soon = function () { if (!timer) timer = setTimeout(reload, 250); };
    const shown = function (slot) { return strip.querySelector('[data-slot="' + slot + '"]'); };
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if (m.type === "open" && (opened++ > 0 || "load" in strip.dataset)) soon();
      if (!followed.has(m.slot)) return;
      if (m.type === "state") soon();
      if (m.type === "snapshot") {  // changed between the page and the subscription?
        const item = shown(m.slot);
        if (!item || item.dataset.state !== m.state) soon();
      }
      if (m.type === "viewers") {
        const item = shown(m.slot), count = item && item.querySelector("[data-viewers]");
        if (count) count.textContent = m.count;
      }
    });
    setInterval(soon, 60000);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

// Reactions: the buttons under the live player send taps over /ws; the counts every node sends per
// interval come back as bursts of emoji over the player, scaled from the counts. With reduced motion
// a quiet counter on the player takes the bursts' place. cloudexpo.bursts.show() also serves the replay.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};
  const EMOJI = { like: "👍", heart: "❤️", clap: "👏", party: "🎉", wow: "😮" };
  const MAX_ON_SCREEN = 60;
  const reduced = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : { matches: false };

  // How many emoji a count becomes: one tap shows one, a crowd shows many but never floods the picture.
  const scaled = function (n) { return n <= 0 ? 0 : Math.min(12, Math.round(1 + 3 * Math.log2(n))); };

  function tally(player, counts) {
    const el = player.querySelector('[data-role="reaction-tally"]');
    if (!el) return;
    const parts = Object.keys(counts).filter(function (k) { return counts[k] > 0 && EMOJI[k]; })
      .map(function (k) { return EMOJI[k] + " " + counts[k]; });
    el.textContent = parts.join("  ");
    el.hidden = !parts.length;
    clearTimeout(el._hide);
    el._hide = setTimeout(function () { el.hidden = true; }, 3000);
  }

  // counts: {"like": 3, ...} of one interval; spread over `spread` ms so a burst does not land at once.
  function show(player, counts, spread) {
    if (!player) return;
    if (reduced.matches) { tally(player, counts); return; }
    const layer = player.querySelector('[data-role="bursts"]');
    if (!layer) return;
    Object.keys(counts).forEach(function (kind) {
      if (!EMOJI[kind]) return;
      for (let i = 0; i < scaled(counts[kind]); i++) {
        setTimeout(function () {
          if (layer.childElementCount >= MAX_ON_SCREEN) return;
          const el = document.createElement("span");
          el.className = "burst";
          el.textContent = EMOJI[kind];
          el.style.left = (8 + Math.random() * 84) + "%";
          el.style.setProperty("--drift", (Math.random() * 60 - 30).toFixed(0) + "px");
          el.addEventListener("animationend", function () { el.remove(); });
          layer.appendChild(el);
        }, Math.random() * (spread || 500));
      }
    });
  }
  window.cloudexpo.bursts = { show: show, emoji: EMOJI };

  function init() {
    const bar = document.querySelector('[data-role="reactions"]');
    const dataEl = document.getElementById("live-data");
    const player = document.querySelector('[data-role="player"]');
    if (!bar || !dataEl || !player) return;
    const data = JSON.parse(dataEl.textContent);
    const totals = {};
    let taps = [];
    const counter = function (kind) { return bar.querySelector('[data-kind="' + kind + '"] [data-role="count"]'); };
    bar.querySelectorAll("button[data-kind]").forEach(function (button) {
      button.addEventListener("click", function () {
        const now = Date.now();
        taps = taps.filter(function (t) { return now - t < 1000; });
        if (taps.length >= 8) return;  // the server's limit: taps beyond it would be refused
        taps.push(now);
        const socket = window.cloudexpo.liveSocket;  // watch.js's websocket
        if (socket) socket.send({ type: "react", slot: data.slot, kind: button.dataset.kind });
        button.classList.remove("tapped"); void button.offsetWidth; button.classList.add("tapped");
      });
    });
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if ((m.type === "state" || m.type === "snapshot") && m.slot === data.slot) bar.hidden = m.state !== "live";
      if (m.type !== "reactions" || m.slot !== data.slot) return;
      Object.keys(m.counts).forEach(function (kind) {
        totals[kind] = (totals[kind] || 0) + m.counts[kind];
        const el = counter(kind);
        if (el) el.textContent = String(totals[kind]);
      });
      if (!player.hidden) show(player, m.counts, m.interval_ms);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

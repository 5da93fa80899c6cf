// Bullet comments (弹幕): chat messages flying across the player, right to left, in lanes.
// The viewer turns them on or off with the player's button (remembered in this browser); the default is
// on for pages in Chinese, off in English, and off with reduced motion. Lanes keep messages apart and a
// message that finds no free lane is dropped (density limit). cloudexpo.bullets.fly() also serves the replay.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};
  const KEY = "cloudexpo.bullets";
  const LANE_PX = 30, SECONDS = 8, GAP_PX = 24, MAX_ON_SCREEN = 24, MAX_CHARS = 60;
  const reduced = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : { matches: false };
  const lang = document.documentElement.lang || "en";
  const lanesFreeAt = new WeakMap();  // layer -> [when each lane takes a new message]

  let choice = (function () { try { return window.localStorage.getItem(KEY); } catch (e) { return null; } })();
  function choose(value) {
    choice = value;
    try { window.localStorage.setItem(KEY, value); } catch (e) { /* private mode: this page only */ }
  }
  function on() {
    if (choice) return choice === "on";
    return lang.indexOf("zh") === 0 && !reduced.matches;
  }

  function fly(player, text) {
    if (!player || !on() || player.hidden) return false;
    const layer = player.querySelector('[data-role="bullets"]');
    if (!layer || layer.childElementCount >= MAX_ON_SCREEN) return false;
    const width = layer.clientWidth, lanes = Math.max(1, Math.floor(layer.clientHeight / LANE_PX));
    if (!width) return false;
    let free = lanesFreeAt.get(layer);
    if (!free || free.length !== lanes) { free = new Array(lanes).fill(0); lanesFreeAt.set(layer, free); }
    const now = performance.now();
    const lane = free.findIndex(function (t) { return t <= now; });
    if (lane < 0) return false;  // every lane busy: this one is dropped
    const el = document.createElement("span");
    el.className = "bullet";
    el.textContent = text.length > MAX_CHARS ? text.slice(0, MAX_CHARS - 1) + "…" : text;
    el.style.top = (lane * LANE_PX) + "px";
    layer.appendChild(el);
    const distance = width + el.offsetWidth;
    el.style.setProperty("--distance", "-" + distance + "px");
    el.style.animationDuration = SECONDS + "s";
    free[lane] = now + (el.offsetWidth + GAP_PX) / distance * SECONDS * 1000;
    el.addEventListener("animationend", function () { el.remove(); });
    return true;
  }

  function clear() { document.querySelectorAll('[data-role="bullets"]').forEach(function (l) { l.textContent = ""; }); }
  function sync() {
    const state = on();
    document.querySelectorAll('[data-role="bullets-toggle"]').forEach(function (b) { b.setAttribute("aria-pressed", String(state)); });
    if (!state) clear();
  }
  window.cloudexpo.bullets = { fly: fly, on: on };

  function init() {
    document.querySelectorAll('[data-role="bullets-toggle"]').forEach(function (button) {
      button.addEventListener("click", function () {
        choose(on() ? "off" : "on");
        sync();
      });
    });
    sync();
    const dataEl = document.getElementById("live-data");
    const player = document.querySelector('[data-role="player"]');
    if (!dataEl || !player) return;
    const data = JSON.parse(dataEl.textContent);
    const flown = new Set();
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if (m.type !== "chat" || m.slot !== data.slot || flown.has(m.message.id)) return;
      flown.add(m.message.id);
      fly(player, m.message.text);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

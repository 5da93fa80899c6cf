// Watch page (player, live state, viewer count over /ws), the viewer's own time zone on
// programme pages, and the home page's "live now / next" list.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};
  const $ = function (sel, root) { return (root || document).querySelector(sel); };

  // --- times in the viewer's zone -------------------------------------------------
  function viewerTimes() {
    const holder = document.querySelector("[data-timezone]");
    const exhibitionTz = holder ? holder.dataset.timezone : null;
    let mine;
    try { mine = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    const tz = exhibitionTz || "Asia/Shanghai";
    if (!mine || mine === tz) return;
    const fmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
    document.querySelectorAll('[data-role="viewer-time"]').forEach(function (el) {
      const s = new Date(el.dataset.start), e = new Date(el.dataset.end);
      if (isNaN(s)) return;
      el.textContent = " (" + fmt.format(s) + (isNaN(e) ? "" : "–" + fmt.format(e)) + " " + mine + ")";
    });
    const note = $('[data-role="viewer-tz-note"]');
    if (note) note.hidden = false;
  }

  // --- one websocket per page, shared with chat.js -----------------------------------
  function openSocket(slots) {
    let ws = null, closed = false, backoff = 1000, pending = [];
    const emit = function (data) { document.dispatchEvent(new CustomEvent("cloudexpo:ws", { detail: data })); };
    const connect = function () {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?slots=" + slots.join(",");
      ws = new WebSocket(url);
      ws.onopen = function () { backoff = 1000; emit({ type: "open" }); pending.splice(0).forEach(function (m) { ws.send(m); }); };
      ws.onmessage = function (ev) {
        let data = null;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        (Array.isArray(data) ? data : [data]).forEach(emit);  // a burst comes as one array
      };
      ws.onclose = function () { emit({ type: "closed" }); if (!closed) setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 15000); };
    };
    connect();
    setInterval(function () { if (ws && ws.readyState === 1) ws.send('{"type":"ping"}'); }, 25000);
    return {
      send: function (obj) { const m = JSON.stringify(obj); if (ws && ws.readyState === 1) ws.send(m); else pending.push(m); return true; },
      ready: function () { return ws && ws.readyState === 1; },
      close: function () { closed = true; if (ws) ws.close(); },
    };
  }
  window.cloudexpo.openSocket = openSocket;

  // --- the player ----------------------------------------------------------------------
  function watchPage() {
    const dataEl = document.getElementById("live-data");
    const root = $('[data-role="watch"]');
    if (!dataEl || !root) return;
    const data = JSON.parse(dataEl.textContent);
    const video = document.getElementById("player-video");
    const player = $('[data-role="player"]');
    let state = data.state, client = null, playing = false, retry = null, attempt = 0;
    let publisherUp = true, stalls = 0;  // the publisher's status from /ws; stalls in a row without a picture in between
    let iceServers = data.ice_servers || [];  // TURN credentials minted for this page; each answer brings fresher ones

    const show = function (name) {
      player.querySelectorAll("[data-msg]").forEach(function (el) { el.hidden = el.dataset.msg !== name; });
      player.classList.toggle("has-message", !!name);
    };
    const setState = function (s) {
      state = s;
      player.className = "player state-" + s;
      $('[data-role="live-badge"]').hidden = s !== "live";
      $('[data-role="soon-badge"]').hidden = s !== "green_room";
      if (s === "live" || (s === "green_room" && data.preview)) { if (!playing) start(); }
      else { stop(); show(s); }
      if (s === "green_room" && !data.preview) show("green_room");
    };
    const scheduleRetry = function () {
      if (retry) return;
      attempt += 1;
      const delay = Math.min(1000 * Math.pow(1.6, attempt), 10000);
      retry = setTimeout(function () { retry = null; if (state === "live" || (state === "green_room" && data.preview)) start(); }, delay);
    };
    const start = async function () {
      if (!window.RTCPeerConnection) { show("blocked"); return; }
      stop();
      playing = true;
      show(attempt ? "reconnecting" : "connecting");
      const mine = new window.cloudexpo.WhepClient(data.whep, { iceServers: iceServers });
      client = mine;
      client.onstate = function (cs) {
        if (client !== mine || !(state === "live" || (state === "green_room" && data.preview))) return;
        if (cs === "connected") { attempt = 0; show(null); tryPlay(); }
        if (cs === "failed" || cs === "disconnected" || cs === "closed") {
          if (cs === "failed" && attempt >= 3 && !video.currentTime) show("blocked"); else show("reconnecting");
          playing = false; scheduleRetry();
        }
      };
      // The picture stopped while the publisher is up: the node serving us is likely gone. Ask again at
      // once (the proxy picks a live node; it pulls the broadcast from its origin); a second stall with
      // no picture in between waits like any retry, so a broadcast paused upstream does not churn.
      client.onstall = function () {
        if (client !== mine || state !== "live" || !publisherUp) return;
        stalls += 1;
        show("reconnecting"); playing = false;
        if (stalls === 1) { attempt = 0; start(); } else scheduleRetry();
      };
      mine.onmedia = function () { stalls = 0; };
      try {
        await mine.play(video);
        if (mine.linkedIceServers.length) iceServers = mine.linkedIceServers;
      } catch (err) {
        playing = false;
        if (err.blocked) { show("blocked"); return; }
        if (err.status === 409 || err.status === 401 || err.status === 403) { show(state === "green_room" ? "green_room" : "reconnecting"); }
        scheduleRetry();
      }
    };
    const stop = function () { if (client) { client.stop(); client = null; } playing = false; };
    const unmute = $('[data-role="unmute"]');
    const muteBtn = $('[data-role="mute"]');
    const syncMute = function () { muteBtn.setAttribute("aria-pressed", String(video.muted)); const w = muteBtn.querySelector('[data-role="waves"]'); if (w) w.style.opacity = video.muted ? "0.15" : "1"; };
    const tryPlay = function () {
      const p = video.play();
      if (p && p.catch) p.catch(function () { unmute.hidden = false; });
      if (video.muted) unmute.hidden = false;
    };
    unmute.addEventListener("click", function () { video.muted = false; video.play(); unmute.hidden = true; syncMute(); });
    muteBtn.addEventListener("click", function () { video.muted = !video.muted; if (!video.muted) { unmute.hidden = true; video.play(); } syncMute(); });
    $('[data-role="fullscreen"]').addEventListener("click", function () {
      if (document.fullscreenElement) { document.exitFullscreen(); return; }
      if (player.requestFullscreen) player.requestFullscreen();
      else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
    });
    window.addEventListener("online", function () { if (!playing && (state === "live")) { attempt = 0; start(); } });
    window.addEventListener("pagehide", function () { stop(); });

    const socket = openSocket([data.slot]);
    window.cloudexpo.liveSocket = socket;
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if ((m.type === "state" || m.type === "snapshot") && m.slot === data.slot) {
        if (m.type === "snapshot" && typeof m.viewers === "number") $('[data-role="viewers"]').textContent = m.viewers;
        if (m.state !== state || (m.state === "live" && !playing)) setState(m.state);
        if (m.publisher) publisherUp = m.publisher === "connected";
        if (m.publisher === "reconnecting" && state === "live") show("reconnecting");
      }
      if (m.type === "viewers" && m.slot === data.slot) $('[data-role="viewers"]').textContent = m.count;
    });
    syncMute();
    window.cloudexpo.player = { video: video, state: function () { return state; } };
    setState(state);
  }

  // --- home page: live now / next ----------------------------------------------------
  async function liveNow() {
    const list = $('[data-role="live-now-list"]');
    if (!list) return;
    const strings = JSON.parse((document.getElementById("live-now-strings") || { textContent: "{}" }).textContent);
    try {
      const res = await fetch("/api/live/now", { headers: { Accept: "application/json" } });
      const data = await res.json();
      list.textContent = "";
      const fmt = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
      const add = function (slot, live) {
        const li = document.createElement("li");
        const badge = document.createElement("span");
        badge.className = "badge" + (live ? " live" : "");
        badge.textContent = live ? strings.live : fmt.format(new Date(slot.starts_at));
        const a = document.createElement("a");
        a.href = "/live/" + slot.id; a.textContent = slot.title;
        li.append(badge, " ", a);
        if (slot.stage) { const s = document.createElement("small"); s.className = "muted"; s.textContent = " · " + slot.stage.name; li.append(s); }
        list.append(li);
      };
      data.live.forEach(function (s) { add(s, true); });
      data.next.forEach(function (s) { add(s, false); });
      if (!data.live.length && !data.next.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = strings.none; list.append(li); }
    } catch (e) { /* leave the placeholder */ }
  }

  const init = function () { viewerTimes(); watchPage(); liveNow(); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

// Watch page (player, live state, viewer count over /ws), the viewer's own time zone on
// programme pages, and the home page's "live now / next" list.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};
  const $ = function (sel, root) { return (root || document).querySelector(sel); };

  // --- times in the viewer's zone -------------------------------------------------
  // Written as every time is (window.cloudexpo.when: 24-hour, the date in the page's language when it is
  // not today), not in the browser's own locale (which put "08:44 AM" into Chinese pages).
  function viewerTimes() {
    const holder = document.querySelector("[data-timezone]");
    const exhibitionTz = holder ? holder.dataset.timezone : null;
    let mine;
    try { mine = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    const tz = exhibitionTz || window.cloudexpo.zone || "Asia/Shanghai";
    if (!mine || mine === tz || !window.cloudexpo.when) return;
    document.querySelectorAll('[data-role="viewer-time"]').forEach(function (el) {
      const text = window.cloudexpo.when(el.dataset.start, el.dataset.end || null, mine);
      if (text) el.textContent = " (" + text + " " + mine + ")";
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
    // publisherUp: the publisher's status from /ws ("interrupted": the presenter's session ended — a
    // reload, a lost network, OBS restarted — and the broadcast goes on: this page keeps its WebRTC
    // session and the picture comes back by itself); stalls in a row without a picture in between.
    let publisherUp = data.publisher !== "interrupted", stalls = 0;
    let iceServers = data.ice_servers || [];  // TURN credentials minted for this page; each answer brings fresher ones
    // The delayed stream (livehls.js): the live HLS playlist, when WebRTC has not connected within
    // FALLBACK_MS or the server is full (503). Meanwhile a trial WHEP session now and then (after the
    // 503's Retry-After, else with back-off) moves the viewer back to WebRTC once it connects.
    const FALLBACK_MS = 6000;
    let hlsUrl = data.hls || null, delayed = null, probeTimer = null, probeBackoff = 20, fallbackTimer = null;

    const onAir = function () { return state === "live" || (state === "green_room" && data.preview); };
    const show = function (name) {
      player.querySelectorAll("[data-msg]").forEach(function (el) { el.hidden = el.dataset.msg !== name; });
      player.classList.toggle("has-message", !!name);
    };
    const showDelayed = function (on) {
      $('[data-role="delayed-badge"]').hidden = !on;
      $('[data-role="delayed-note"]').hidden = !on;
    };
    const setState = function (s) {
      state = s;
      player.className = "player state-" + s;
      $('[data-role="live-badge"]').hidden = s !== "live";
      $('[data-role="soon-badge"]').hidden = s !== "green_room";
      if (onAir()) { if (!playing && !delayed) start(); }
      else { stop(); stopDelayed(); show(s); }
      if (s === "green_room" && !data.preview) show("green_room");
    };
    const scheduleRetry = function () {
      if (retry) return;
      attempt += 1;
      const delay = Math.min(1000 * Math.pow(1.6, attempt), 10000);
      retry = setTimeout(function () { retry = null; if (onAir() && !delayed) start(); }, delay);
    };
    const follow = function (mine) {
      mine.onstate = function (cs) {
        if (client !== mine || !onAir()) return;
        if (cs === "connected") { clearTimeout(fallbackTimer); attempt = 0; show(publisherUp ? null : "interrupted"); tryPlay(); }
        if (cs === "failed" || cs === "disconnected" || cs === "closed") {
          playing = false;
          if (cs === "failed" && !video.currentTime && playDelayed()) return;
          if (cs === "failed" && attempt >= 3 && !video.currentTime) show("blocked"); else show("reconnecting");
          scheduleRetry();
        }
      };
      // The picture stopped while the publisher is up: the node serving us is likely gone. Ask again at
      // once (the proxy picks a live node; it pulls the broadcast from its origin); a second stall with
      // no picture in between waits like any retry, so a broadcast paused upstream does not churn.
      mine.onstall = async function () {
        if (client !== mine || state !== "live" || !publisherUp) return;
        // The presenter stopping (a reload, OBS's Stop) stalls the picture too, maybe before /ws says
        // so: ask the server, twice a second apart (it may take a moment to notice). Interrupted:
        // keep this session, the picture comes back on it (stall watching starts again when the
        // publisher does). No answer: our node is gone, move now.
        for (let ask = 0; ask < 2; ask++) {
          let info = null;
          try {
            const res = await fetch("/api/slots/" + data.slot, { headers: { Accept: "application/json" }, credentials: "same-origin" });
            info = res.ok ? await res.json() : null;
          } catch (e) { break; }
          if (client !== mine || !publisherUp) return;
          if (info && info.publisher !== "connected") {
            publisherUp = false;
            if (info.publisher === "interrupted") show("interrupted");
            return;
          }
          if (ask === 0) await new Promise(function (done) { setTimeout(done, 1000); });
        }
        if (client !== mine || state !== "live" || !publisherUp) return;
        stalls += 1;
        show("reconnecting"); playing = false;
        if (stalls === 1) { attempt = 0; start(); } else scheduleRetry();
      };
      mine.onmedia = function () { stalls = 0; };
    };
    const start = async function () {
      if (!window.RTCPeerConnection) { if (!playDelayed()) show("blocked"); return; }
      stop();
      playing = true;
      show(attempt ? "reconnecting" : "connecting");
      const mine = new window.cloudexpo.WhepClient(data.whep, { iceServers: iceServers });
      client = mine;
      follow(mine);
      clearTimeout(fallbackTimer);
      fallbackTimer = setTimeout(function () {
        if (client === mine && (!mine.pc || mine.pc.connectionState !== "connected")) { hlsUrl = mine.hlsUrl || hlsUrl; playDelayed(); }
      }, FALLBACK_MS);
      try {
        await mine.play(video);
        if (mine.linkedIceServers.length) iceServers = mine.linkedIceServers;
        hlsUrl = mine.hlsUrl || hlsUrl;
      } catch (err) {
        if (client !== mine) return;
        playing = false;
        hlsUrl = err.hlsUrl || hlsUrl;
        if ((err.status === 503 || err.blocked || !err.status) && playDelayed(err.retryAfter)) return;
        if (err.blocked) { show("blocked"); return; }
        if (err.status === 409 || err.status === 401 || err.status === 403) { show(state === "green_room" ? "green_room" : "reconnecting"); }
        scheduleRetry();
      }
    };
    const stop = function () { clearTimeout(fallbackTimer); if (client) { client.stop(); client = null; } playing = false; };

    // --- the delayed stream and the way back to WebRTC ---
    const playDelayed = function (retryAfter) {
      if (!hlsUrl || !onAir() || !window.cloudexpo.LiveHlsPlayer || !window.cloudexpo.LiveHlsPlayer.supported(video)) return false;
      stop();
      if (retry) { clearTimeout(retry); retry = null; }
      if (!delayed) {
        const mine = new window.cloudexpo.LiveHlsPlayer(video, hlsUrl);
        delayed = mine;
        mine.onfatal = function () {  // no playlist yet, or storage unreachable: start over shortly
          if (delayed !== mine) return;
          mine.stop(); delayed = null; sayWatching(null);
          setTimeout(function () { if (!delayed && !playing && onAir()) playDelayed(); }, 3000);
        };
        mine.start();
        sayWatching("hls");
      }
      show(null); showDelayed(true); tryPlay();
      scheduleProbe(retryAfter);
      return true;
    };
    const stopDelayed = function () {
      clearTimeout(probeTimer); probeTimer = null;
      if (delayed) { delayed.stop(); delayed = null; sayWatching(null); }
      showDelayed(false);
    };
    // HLS viewers come from storage or a CDN, unseen by the server: the page says it plays the
    // delayed stream, so they count among the viewers (a closed socket stops counting).
    const sayWatching = function (via) {
      const socket = window.cloudexpo.liveSocket;
      if (socket) socket.send({ type: "watching", slot: data.slot, via: via });
    };
    const scheduleProbe = function (seconds) {
      clearTimeout(probeTimer);
      let wait = seconds > 0 ? seconds : probeBackoff;
      if (!(seconds > 0)) probeBackoff = Math.min(probeBackoff * 2, 300);
      probeTimer = setTimeout(probe, wait * 1000 * (0.9 + Math.random() * 0.2));
    };
    const probe = async function () {
      probeTimer = null;
      if (!delayed || !onAir() || !window.RTCPeerConnection) return;
      const trial = new window.cloudexpo.WhepClient(data.whep, { iceServers: iceServers });
      let settled = false;
      const settle = function (retryAfter) {
        if (settled) return false;
        settled = true; clearTimeout(giveUp);
        if (retryAfter !== undefined) { trial.stop(); if (delayed) scheduleProbe(retryAfter); }
        return true;
      };
      const giveUp = setTimeout(function () { settle(0); }, FALLBACK_MS);
      trial.onstate = function (cs) {
        if (cs === "connected" && delayed && onAir() && settle()) {  // a place: back to WebRTC, no delay
          stopDelayed();
          probeBackoff = 20; attempt = 0;
          client = trial; playing = true; follow(trial);
          video.srcObject = trial.stream;
          show(null); tryPlay();
        } else if (cs === "failed" || cs === "closed") settle(0);
      };
      try {
        await trial.play(document.createElement("video"));
        if (trial.linkedIceServers.length) iceServers = trial.linkedIceServers;
      } catch (err) {
        hlsUrl = err.hlsUrl || hlsUrl;
        settle(err.status === 503 ? err.retryAfter : 0);
      }
    };
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
    window.addEventListener("online", function () { if (!playing && !delayed && (state === "live")) { attempt = 0; start(); } });
    window.addEventListener("pagehide", function () { stop(); stopDelayed(); });

    const socket = openSocket([data.slot]);
    window.cloudexpo.liveSocket = socket;
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if (m.type === "open" && delayed) sayWatching("hls");  // a new socket: the server counts it afresh
      if ((m.type === "state" || m.type === "snapshot") && m.slot === data.slot) {
        if (m.type === "snapshot" && typeof m.viewers === "number") $('[data-role="viewers"]').textContent = m.viewers;
        if (m.state !== state || (m.state === "live" && !playing && !delayed)) setState(m.state);
        const wasUp = publisherUp;
        if (m.publisher) publisherUp = m.publisher === "connected";
        if (!wasUp && publisherUp && client && client.pc && !client.stallTimer) client.watchMedia();  // watch for stalls again
        if (onAir() && m.publisher === "interrupted") show("interrupted");
        else if (onAir() && !wasUp && publisherUp && (delayed || (client && client.pc && client.pc.connectionState === "connected"))) show(null);
      }
      if (m.type === "viewers" && m.slot === data.slot) $('[data-role="viewers"]').textContent = m.count;
    });
    syncMute();
    window.cloudexpo.player = {
      video: video,
      state: function () { return state; },
      mode: function () { return delayed ? "hls" : (client && playing ? "webrtc" : null); },
      delay: function () { return delayed ? delayed.delay() : null; },
    };
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
      const add = function (slot, live) {
        const li = document.createElement("li");
        const badge = document.createElement("span");
        badge.className = "badge" + (live ? " live" : "");
        badge.textContent = live ? strings.live : window.cloudexpo.when(slot.starts_at);
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

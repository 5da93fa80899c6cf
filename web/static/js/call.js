// Cloud Expo — one-to-one video calls from a booth conversation (web/routes/calls.py, web/call_signals.py).
// The call button joins the open conversation's actions; a call rings the other side on any of their pages
// (the "call" events of /ws). Camera and microphone are allowed only on the call's own page (/calls/ID,
// like the go-live page), so starting or answering a call goes there. The two browsers try a direct
// connection first (offer and answer over /ws, every candidate in them, the ICE servers the server handed
// out); when it has not connected within DIRECT_MS, or ICE failed, both go through the server: each
// publishes its camera (WHIP) and plays the other's (WHEP) with its own token. Needs ice.js, whip.js,
// whep.js, and engagement.js (the page's socket).
(function () {
  "use strict";
  const win = document.querySelector("[data-call-window]");
  if (!win || window.cloudexpoCalls) { return; }
  window.cloudexpoCalls = true;
  const api = function (method, url, body) { return window.cloudexpo.api(method, url, body); };
  const me = Number(win.dataset.me);
  const pageCall = Number(win.dataset.callPage) || 0;  // this page is call N's own
  const $ = function (name) { return win.querySelector("[data-call-" + name + "]"); };
  const t = function (key) { return win.dataset["t" + key.replace(/(^|-)(\w)/g, function (_, d, c) { return c.toUpperCase(); })] || key; };
  const DIRECT_MS = 6000;  // a direct connection not up by then (or failed): through the server
  const WHEP_TRIES = 40;   // the other side's camera reaches the server within ~20 s, or the call failed
  const policy = document.permissionsPolicy || document.featurePolicy;
  const canCapture = !policy || (policy.allowsFeature("camera") && policy.allowsFeature("microphone"));

  let call = null;        // the call as the server last described it
  let view = null;        // {ice_servers, forwarder} for me
  let local = null;       // my camera and microphone
  let pc = null;          // the direct connection
  let whip = null, whep = null;
  let path = null;        // "direct" | "forwarder"
  let pending = [];       // signals that came before the connection was made
  let directTimer = null, clock = null, ringTone = null, lastFocus = null;

  // --- the page's socket (engagement.js): its events come as "cloudexpo:ws"; an answer must not go
  // out before our signals can come in, so accepting waits until it is open
  const send = function (obj) { return window.cloudexpo.wsSend ? window.cloudexpo.wsSend(obj) : false; };
  const socketOpen = function () {
    return new Promise(function (resolve) {
      if (send({ type: "ping" })) { resolve(); return; }
      const opened = function () { document.removeEventListener("cloudexpo:ws-open", opened); resolve(); };
      document.addEventListener("cloudexpo:ws-open", opened);
    });
  };
  document.addEventListener("cloudexpo:ws", function (e) { handle(e.detail); });

  function handle(data) {
    if (!data || typeof data !== "object") { return; }
    if (data.type === "hello" && !pageCall) { lookForRinging(); return; }
    if (data.type === "call") { onCallEvent(data); }
    else if (data.type === "call_signal" && call && data.call === call.id) { onSignal(data); }
  }

  // --- the window
  function status(text) { $("status").textContent = text; }
  function show(buttons) {
    ["accept", "decline", "mic", "camera", "hangup", "close"].forEach(function (b) { $(b).hidden = buttons.indexOf(b) < 0; });
  }
  function openWindow(title) {
    if (win.hidden) { lastFocus = document.activeElement; }
    $("title").textContent = title;
    win.hidden = false;
  }
  function setState(state) { win.dataset.callState = state; }
  function startClock(answeredAt) {
    const since = answeredAt ? Date.parse(answeredAt) : Date.now();
    $("duration").hidden = false;
    const tick = function () {
      const s = Math.max(0, Math.floor((Date.now() - since) / 1000));
      $("clock").textContent = (s >= 3600 ? Math.floor(s / 3600) + ":" : "") + String(Math.floor(s / 60) % 60).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
      $("clock").setAttribute("datetime", "PT" + s + "S");
    };
    tick();
    clearInterval(clock);
    clock = setInterval(tick, 1000);
  }

  // A short two-tone ring (Web Audio), every 2 s while a call rings me; silent where audio is blocked.
  function ring(on) {
    if (ringTone) { clearInterval(ringTone.timer); try { ringTone.ctx.close(); } catch (e) { /* closed */ } ringTone = null; }
    if (!on || !window.AudioContext) { return; }
    try {
      const ctx = new AudioContext();
      const beep = function () {
        [0, 0.25].forEach(function (at, i) {
          const osc = ctx.createOscillator(), gain = ctx.createGain();
          osc.frequency.value = i ? 660 : 880; gain.gain.value = 0.08;
          osc.connect(gain); gain.connect(ctx.destination);
          osc.start(ctx.currentTime + at); osc.stop(ctx.currentTime + at + 0.2);
        });
      };
      beep();
      ringTone = { ctx: ctx, timer: setInterval(beep, 2000) };
    } catch (e) { ringTone = null; }
  }

  async function camera() {
    if (local) { return local; }
    try {
      local = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    } catch (e) {
      status(t("no-camera"));
      local = new MediaStream();
    }
    $("local").srcObject = local;
    return local;
  }

  // --- starting, answering, ending
  async function start(conversationId) {
    if (call) { return; }
    try {
      const answer = await api("POST", "/api/conversations/" + conversationId + "/calls");
      location.assign("/calls/" + answer.call.id);
    } catch (err) {
      openWindow(t("failed")); setState("failed"); status(err.message); show(["close"]); $("close").focus();
    }
  }

  // A page opened (or a socket reconnected) while a call rings me: the ring shows here too.
  async function lookForRinging() {
    if (call) { return; }
    try {
      const found = (await api("GET", "/api/calls/ringing")).calls;
      if (found.length && !call) { ringing(found[0], whoCalls(found[0])); }
    } catch (e) { /* not now */ }
  }

  function whoCalls(data) {
    return [data.caller_name, data.booth_number ? t("booth") + " " + data.booth_number : ""].filter(Boolean).join(" · ");
  }

  function ringing(c, callerName) {
    call = c;
    openWindow(t("ringing"));
    setState("ringing"); status(callerName || "");
    show(["accept", "decline"]);
    $("accept").focus();
    ring(true);
  }

  function calling() {
    openWindow(t("calling")); setState("ringing"); status("");
    show(["mic", "camera", "hangup"]);
    $("hangup").focus();
    camera();
  }

  function onCallEvent(data) {
    const c = data.call;
    if (data.event === "ringing" && c.caller_id !== me && !call) {
      ringing(c, whoCalls(data));
      return;
    }
    if (!call || c.id !== call.id) { return; }
    if (data.event === "accepted") {
      ring(false);
      if (c.callee_id !== me && c.caller_id !== me) { finish(null); return; }  // a colleague took it
      call = c;
      if (data.forwarder) { view = { ice_servers: data.ice_servers || [], forwarder: data.forwarder }; }
      if (c.caller_id === me && pageCall === c.id) { connect(true); }
      return;
    }
    if (["declined", "cancelled", "missed", "ended"].indexOf(data.event) >= 0) { finish(data.event); }
  }

  async function accept() {
    ring(false);
    if (!canCapture || pageCall !== call.id) { location.assign("/calls/" + call.id + "?accept=1"); return; }
    try {
      await socketOpen();
      const answer = await api("POST", "/api/calls/" + call.id + "/accept");
      call = answer.call; view = answer;
      connect(false);
    } catch (err) { finish(null, err.message); }
  }

  async function decline() {
    ring(false);
    const c = call;
    finish(pageCall ? "declined" : null);
    try { await api("POST", "/api/calls/" + c.id + "/decline"); } catch (e) { /* gone already */ }
  }

  async function hangUp() {
    const c = call;
    finish("ended");
    if (c) { try { await api("POST", "/api/calls/" + c.id + "/hangup"); } catch (e) { /* gone already */ } }
  }

  function closePeers() {
    clearTimeout(directTimer);
    if (pc) { pc.close(); pc = null; }
    if (whip) { whip.stop({ keepalive: true }); whip = null; }
    if (whep) { whep.stop(); whep = null; }
  }

  function finish(event, message) {
    ring(false);
    clearInterval(clock);
    closePeers();
    if (local) { local.getTracks().forEach(function (tr) { tr.stop(); }); local = null; }
    $("local").srcObject = null; $("remote").srcObject = null;
    call = null; view = null; path = null; pending = [];
    win.removeAttribute("data-call-path");
    if (!event && !message) { closeWindow(); return; }
    setState(event || "failed");
    status(message || t(event));
    show(["close"]);
    $("close").focus();
  }

  function closeWindow() {
    if (pageCall && win.dataset.back) { location.assign(win.dataset.back); return; }
    win.hidden = true;
    setState("");
    if (lastFocus && lastFocus.focus) { lastFocus.focus(); }
  }

  // --- media: direct first
  async function connect(offering) {
    closePeers();
    $("title").textContent = t("title");
    setState("connecting"); status(t("connecting"));
    show(["mic", "camera", "hangup"]);
    $("hangup").focus();
    startClock(call.answered_at);
    const stream = await camera();
    const mine = pc = new RTCPeerConnection({ iceServers: (view && view.ice_servers) || [] });
    stream.getTracks().forEach(function (track) { mine.addTrack(track, stream); });
    if (!stream.getVideoTracks().length) { mine.addTransceiver("video", { direction: "recvonly" }); }
    if (!stream.getAudioTracks().length) { mine.addTransceiver("audio", { direction: "recvonly" }); }
    const remote = new MediaStream();
    mine.ontrack = function (ev) { remote.addTrack(ev.track); $("remote").srcObject = remote; };
    mine.addEventListener("connectionstatechange", function () {
      if (pc !== mine) { return; }
      if (mine.connectionState === "connected") { connected("direct"); }
      else if (mine.connectionState === "failed") { viaServer(true); }
    });
    if (offering) {
      await mine.setLocalDescription(await mine.createOffer());
      await window.cloudexpo.waitForIce(mine, 3000);
      if (pc !== mine) { return; }
      send({ type: "call_signal", call: call.id, kind: "offer", sdp: mine.localDescription.sdp });
    }
    const waiting = pending; pending = [];
    waiting.forEach(onSignal);
  }

  async function onSignal(data) {
    if (data.kind === "forwarder") { viaServer(false); return; }
    if (data.kind === "ready") { if (call.caller_id === me) { path = null; connect(true); } return; }
    if (data.kind === "connected") { return; }
    if (data.kind === "offer" && pc && pc.remoteDescription) { path = null; await connect(false); }  // the caller started again
    if (!pc) { pending.push(data); return; }
    const mine = pc;
    if (data.kind === "offer") {
      await mine.setRemoteDescription({ type: "offer", sdp: data.sdp });
      await mine.setLocalDescription(await mine.createAnswer());
      await window.cloudexpo.waitForIce(mine, 3000);
      if (pc !== mine) { return; }
      send({ type: "call_signal", call: call.id, kind: "answer", sdp: mine.localDescription.sdp });
      armFallback(mine);
    } else if (data.kind === "answer" && mine.signalingState === "have-local-offer") {
      await mine.setRemoteDescription({ type: "answer", sdp: data.sdp });
      armFallback(mine);
    } else if (data.kind === "candidate" && data.candidate) {
      try { await mine.addIceCandidate(data.candidate); } catch (e) { /* late or for another session */ }
    }
  }

  function armFallback(mine) {
    clearTimeout(directTimer);
    directTimer = setTimeout(function () {
      if (pc === mine && mine.connectionState !== "connected") { viaServer(true); }
    }, DIRECT_MS);
  }

  function connected(how) {
    if (path === how) { return; }
    path = how;
    clearTimeout(directTimer);
    win.dataset.callPath = how;
    setState("connected");
    status(how === "direct" ? t("connected") : t("relayed"));
    if (how === "direct" && call && call.caller_id === me) { send({ type: "call_signal", call: call.id, kind: "connected" }); }
  }

  // --- through the server: my camera in (WHIP), theirs out (WHEP), each with my own token
  async function viaServer(tellOther) {
    if (!call || !view || path === "forwarder" || whip) { return; }
    clearTimeout(directTimer);
    if (tellOther) { send({ type: "call_signal", call: call.id, kind: "forwarder" }); }
    if (pc) { pc.close(); pc = null; }
    setState("connecting"); status(t("connecting"));
    const c = call, f = view.forwarder, servers = view.ice_servers || [];
    try {
      whip = new window.cloudexpo.WhipClient(f.whip, f.token, servers);
      await whip.publish(await camera());
      for (let i = 0; i < WHEP_TRIES && call === c; i++) {
        const player = new window.cloudexpo.WhepClient(f.whep, { token: f.token, iceServers: servers });
        try {
          const viewer = await player.play($("remote"));
          whep = player;
          viewer.addEventListener("connectionstatechange", function () {
            if (viewer.connectionState === "connected" && call === c) { connected("forwarder"); }
          });
          return;
        } catch (err) {
          if (err.status !== 409) { throw err; }
          await new Promise(function (r) { setTimeout(r, 500); });
        }
      }
    } catch (err) {
      if (call === c) { status(t("failed") + " " + err.message); }
    }
  }

  // --- this page is the call's own: pick it up where it is
  async function load() {
    await socketOpen();
    let got;
    try { got = await api("GET", "/api/calls/" + pageCall); } catch (err) { finish(null, err.message); return; }
    call = got.call;
    view = got.forwarder ? got : null;
    if (call.state === "ringing" && call.caller_id === me) { calling(); }
    else if (call.state === "ringing") {
      ringing(call, "");
      if (new URLSearchParams(location.search).get("accept") === "1") { accept(); }
    } else if (call.state === "active" && call.caller_id === me) { connect(true); }
    else if (call.state === "active") { await connect(false); send({ type: "call_signal", call: call.id, kind: "ready" }); }
    else { const state = call.state; call = null; openWindow(t("ended")); finish(state); }
  }

  // --- wiring
  $("accept").addEventListener("click", accept);
  $("decline").addEventListener("click", decline);
  $("hangup").addEventListener("click", hangUp);
  $("close").addEventListener("click", closeWindow);
  const toggle = function (name, kind, offLabel, onLabel) {
    $(name).addEventListener("click", function () {
      const off = $(name).getAttribute("aria-pressed") !== "true";
      $(name).setAttribute("aria-pressed", off ? "true" : "false");
      $(name).textContent = off ? t(onLabel) : t(offLabel);
      if (local) { local.getTracks().forEach(function (tr) { if (tr.kind === kind) { tr.enabled = !off; } }); }
    });
  };
  toggle("mic", "audio", "mute", "unmute");
  toggle("camera", "video", "camera-off", "camera-on");
  win.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !$("decline").hidden) { decline(); }
  });

  // The call button in the open conversation's actions (conversations.js says which one is open).
  const template = document.querySelector("template[data-call-button]");
  function addButton(actions, conversationId) {
    if (!template || !actions) { return; }
    const old = actions.querySelector("[data-call-start]");
    if (old && old.dataset.conversationId === String(conversationId)) { return; }
    if (old) { old.remove(); }
    const button = template.content.firstElementChild.cloneNode(true);
    button.dataset.conversationId = String(conversationId);
    button.addEventListener("click", function () { start(button.dataset.conversationId); });
    actions.appendChild(button);
  }
  // The button comes with the conversation (conversations.js says which one is open, once it is loaded):
  // added before, it moved when the panel's other actions showed or hid, under a click already aimed at
  // it, and a moderator reading a reported conversation got one too.
  document.addEventListener("cloudexpo:conversation-open", function (e) {
    if (e.detail.side === "moderator") { return; }  // a moderator reads a reported conversation; nobody to call
    const panel = document.querySelector('[data-conversation-panel][data-conversation-id="' + e.detail.id + '"]') || document.querySelector("[data-conversation-panel]");
    if (panel) { addButton(panel.querySelector("[data-conv-actions]"), e.detail.id); }
  });
  window.cloudexpo.startCall = start;
  if (pageCall) { load(); }
})();

// The presenter's console (the go-live page): camera or screen out over WHIP, and everything a
// presenter watches while on air — status, time left (warnings at 5 and 1 minutes), viewers,
// chat (chat.js), health from getStats and from the server.
//
// A broadcast and this page's WHIP session are two things: Pause, a reload or a lost network
// end the session and the broadcast is only interrupted (viewers wait); only End, confirmed,
// ends it. After a reload the page offers to resume. Every button's state is derived from one
// place (render) from what the server says (state events over /ws, the stats API every 2 s)
// and what this page is doing (phase), so the page never shows an enabled Start while sending
// or "connected" after an End.
(function () {
  "use strict";
  const $ = function (sel, root) { return (root || document).querySelector(sel); };
  const RUNNING = ["live", "green_room"];
  const CLOSED = ["ended", "cancelled"];

  function presenter() {
    const root = $('[data-role="golive"]');
    const dataEl = document.getElementById("golive-data");
    if (!root || !dataEl) return;
    const data = JSON.parse(dataEl.textContent);
    const strings = JSON.parse(document.getElementById("golive-strings").textContent);
    const video = document.getElementById("preview-video");
    const el = function (role) { return $('[data-role="' + role + '"]', root); };
    const cameraSel = el("camera"), micSel = el("microphone");
    const startBtn = el("start"), pauseBtn = el("pause"), endBtn = el("end"), resumeBtn = el("resume");
    const dialog = el("end-dialog");
    const memoryKey = "cloudexpo.golive." + data.slot;  // this tab was sending (survives a reload)

    // What the server says about the broadcast, and what this page does.
    const server = {
      state: data.state, publisher: data.publisher, session: null,
      startsAt: Date.parse(data.starts_at), endsAt: Date.parse(data.ends_at),
      overrun: (data.overrun_seconds || 0) * 1000,
    };
    let clockOffset = Date.parse(data.now) - Date.now();  // server clock minus ours
    let phase = CLOSED.indexOf(data.state) >= 0 ? "ended" : "idle";  // idle | connecting | sending | reconnecting | replaced | ended
    let stream = null, whip = null, audioCtx = null, retryTimer = null, retries = 0;
    let last = null;  // the previous outbound-rtp report, for rates

    const setText = function (role, text) { const e = el(role); if (e) e.textContent = text; };
    const fail = function (text) { const e = el("error"); e.textContent = text || ""; e.hidden = !text; };
    const pad = function (n) { return (n < 10 ? "0" : "") + n; };
    const duration = function (ms) {
      const s = Math.max(0, Math.round(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
      return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
    };
    const clockTime = function (ms) { return window.cloudexpo.when ? window.cloudexpo.when(ms) : new Date(ms).toLocaleTimeString(); };
    const sending = function () { return phase === "connecting" || phase === "sending" || phase === "reconnecting"; };

    // --- one place decides what the page shows ---------------------------------------------
    function render() {
      const closed = CLOSED.indexOf(server.state) >= 0;
      if (closed && phase !== "ended") { phase = "ended"; dropSession(); }
      const running = RUNNING.indexOf(server.state) >= 0;
      const interrupted = running && server.publisher !== "connected";
      const badge = el("air-state");
      badge.textContent = interrupted && server.state === "live" ? strings.interrupted : (strings[server.state] || server.state);
      badge.className = "badge" + (server.state === "live" && !interrupted ? " live" : interrupted ? " warn" : server.state === "green_room" ? " soon" : "");
      setText("conn-state", {
        idle: strings.notSending, connecting: strings.connecting, sending: strings.sending,
        reconnecting: strings.reconnecting, replaced: strings.replaced, ended: strings.endedConn,
      }[phase]);
      const othersSending = running && server.publisher === "connected" && !sending();
      setText("start-label", sending() ? strings.broadcasting : othersSending || phase === "replaced" ? strings.takeOver : running ? strings.resume : strings.start);
      startBtn.disabled = closed || sending();
      pauseBtn.disabled = closed || !sending();
      endBtn.disabled = closed || !running;
      el("use-camera").disabled = closed;
      el("share-screen").disabled = closed;
      const offer = el("resume-offer");
      const offering = !closed && running && (phase === "idle" || phase === "replaced");
      offer.hidden = !offering;
      if (offering) {
        setText("resume-text", phase === "replaced" ? strings.replacedText : othersSending ? strings.otherSending : strings.resumeOffer);
        setText("resume", "● " + (othersSending || phase === "replaced" ? strings.takeOver : strings.resume));
      }
      el("ended-note").hidden = !closed;
      tickClock();
    }

    function tickClock() {
      const now = Date.now() + clockOffset;
      const box = el("time-left"), label = el("time-label"), warning = el("time-warning");
      let note = "";
      box.classList.remove("warn", "urgent");
      if (CLOSED.indexOf(server.state) >= 0) {
        label.textContent = strings.timeLeft; box.textContent = "—";
      } else if (now < server.startsAt) {
        label.textContent = strings.startsIn; box.textContent = duration(server.startsAt - now);
      } else {
        const left = server.endsAt - now;
        if (left > 0) {
          label.textContent = strings.timeLeft; box.textContent = duration(left);
          // a warning from 5 minutes before the end (again after a moderator extends the slot)
          if (left <= 60000) { box.classList.add("urgent"); note = strings.oneLeft; }
          else if (left <= 5 * 60000) { box.classList.add("warn"); note = strings.fiveLeft; }
        } else {
          label.textContent = strings.overtime; box.textContent = "+" + duration(-left); box.classList.add("urgent");
          note = strings.overtimeNote.replace("%(time)s", clockTime(server.endsAt + server.overrun));
        }
      }
      if (warning.textContent !== note) warning.textContent = note;
      warning.hidden = !note;
      warning.className = "alert console-alert " + (box.classList.contains("urgent") ? "error" : "warn");
    }

    // --- the server's view ---------------------------------------------------------------------
    function fromServer(m) {
      if (m.state) server.state = m.state;
      if ("publisher" in m) server.publisher = m.publisher;
      if (m.starts_at) server.startsAt = Date.parse(m.starts_at);
      if (m.ends_at) {
        const ends = Date.parse(m.ends_at);
        const times = el("slot-times") && el("slot-times").querySelector("time");
        if (ends !== server.endsAt && times && window.cloudexpo.when) {  // a moderator moved the end
          times.textContent = window.cloudexpo.when(server.startsAt, ends);
          times.dataset.end = new Date(ends).toISOString();
        }
        server.endsAt = ends;
      }
    }

    async function poll() {
      if (!window.cloudexpo.api) return;
      let info;
      try { info = await window.cloudexpo.api("GET", "/api/slots/" + data.slot + "/stats"); } catch (e) { return; }
      if (info.now) clockOffset = Date.parse(info.now) - Date.now();
      fromServer(info);
      server.session = info.publish_session;
      if (typeof info.viewers === "number") setText("viewer-count", info.viewers);
      const s = info.stats;
      setText("server-bitrate", s && s.publisher_bitrate ? Math.round(s.publisher_bitrate / 1000) + " " + strings.kbps : "—");
      setText("server-fps", s && s.fps ? Math.round(s.fps) + " " + strings.fpsUnit : "—");
      setText("server-loss", s && typeof s.loss === "number" ? percent(s.loss) : "—");
      setText("viewers-loss", s && s.viewers ? percent(s.viewers_loss) : "—");
      const bframes = (info.warnings || []).some(function (w) { return w.code === "bframes"; });
      el("warning").hidden = !bframes;
      if (bframes) el("warning").textContent = strings.bframes;
      // Someone else with the token publishes now (OBS, another tab): the server closed our session.
      if (sending() && whip && whip.sessionId && info.publish_session && info.publish_session !== whip.sessionId && info.publisher === "connected") {
        phase = "replaced"; dropSession();
      }
      render();
    }
    const percent = function (share) { return (Math.round(share * 1000) / 10) + " %"; };

    // --- camera, screen, level meter -------------------------------------------------------------
    async function listDevices() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
      const devices = await navigator.mediaDevices.enumerateDevices();
      const fill = function (sel, kind) {
        const current = sel.value; sel.textContent = "";
        devices.filter(function (d) { return d.kind === kind; }).forEach(function (d, i) {
          const o = document.createElement("option"); o.value = d.deviceId; o.textContent = d.label || (kind + " " + (i + 1)); sel.append(o);
        });
        if (current) sel.value = current;
      };
      fill(cameraSel, "videoinput"); fill(micSel, "audioinput");
    }

    function levelMeter(s) {
      if (audioCtx) { audioCtx.close(); audioCtx = null; }
      const tracks = s.getAudioTracks();
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!tracks.length || !Ctx) return;
      audioCtx = new Ctx();
      const analyser = audioCtx.createAnalyser();
      analyser.fftSize = 512;
      audioCtx.createMediaStreamSource(new MediaStream([tracks[0]])).connect(analyser);
      const buf = new Uint8Array(analyser.fftSize), ctx = audioCtx, meter = el("meter");
      const tick = function () {
        if (audioCtx !== ctx) return;
        analyser.getByteTimeDomainData(buf);
        let peak = 0;
        for (let i = 0; i < buf.length; i++) peak = Math.max(peak, Math.abs(buf[i] - 128));
        const level = Math.min(100, Math.round(peak / 128 * 140));
        meter.style.width = level + "%";
        meter.parentNode.setAttribute("aria-valuenow", String(level));
        requestAnimationFrame(tick);
      };
      tick();
    }

    function useStream(s) {
      if (stream && stream !== s) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = s;
      video.srcObject = s;
      levelMeter(s);
      if (whip && whip.pc) {  // switch camera ↔ screen live: replace tracks, no renegotiation
        whip.pc.getSenders().forEach(function (sender) {
          const t = sender.track && s.getTracks().find(function (n) { return n.kind === sender.track.kind; });
          if (t) sender.replaceTrack(t);
        });
      }
      render();
    }

    async function camera() {
      fail("");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { fail(strings.noMedia); return; }
      try {
        const size = { width: { ideal: 1280 }, height: { ideal: 720 } };
        const s = await navigator.mediaDevices.getUserMedia({
          video: cameraSel.value ? Object.assign({ deviceId: { exact: cameraSel.value } }, size) : size,
          audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
        });
        useStream(s);
        await listDevices();
      } catch (e) { fail(e.message || String(e)); }
    }

    async function screen() {
      fail("");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { fail(strings.noMedia); return; }
      try {
        const display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: false });
        let mic = null;
        try { mic = await navigator.mediaDevices.getUserMedia({ audio: micSel.value ? { deviceId: { exact: micSel.value } } : true }); } catch (e) { /* no microphone */ }
        useStream(new MediaStream(display.getVideoTracks().concat(mic ? mic.getAudioTracks() : [])));
      } catch (e) { fail(e.message || String(e)); }
    }

    // --- this page's WHIP session ------------------------------------------------------------------
    function dropSession() {  // forget the session without a DELETE (the server closed it already)
      clearTimeout(retryTimer); retryTimer = null;
      if (whip && whip.pc) whip.pc.close();
      whip = null; last = null;
      try { sessionStorage.removeItem(memoryKey); } catch (e) { /* private mode */ }
      ["bitrate", "fps", "resolution", "loss", "rtt"].forEach(function (r) { setText(r, "—"); });
    }

    async function start() {
      fail("");
      clearTimeout(retryTimer); retryTimer = null;
      if (!stream) await camera();
      if (!stream || phase === "ended") { render(); return; }
      if (!window.RTCPeerConnection) { fail(strings.noWebrtc); return; }
      if (whip) await whip.stop();
      phase = phase === "reconnecting" ? "reconnecting" : "connecting";
      render();
      const mine = new window.cloudexpo.WhipClient(data.whip, data.token, data.ice_servers);
      whip = mine;
      try {
        const pc = await mine.publish(stream);
        if (whip !== mine) { mine.stop(); return; }
        data.ice_servers = mine.iceServers;  // fresh TURN credentials for the next publish
        server.session = mine.sessionId;
        try { sessionStorage.setItem(memoryKey, "1"); } catch (e) { /* private mode */ }
        pc.addEventListener("connectionstatechange", function () { onConnection(mine, pc.connectionState); });
        if (mine.state) server.state = mine.state;
        render();
        poll();
      } catch (e) {
        if (whip === mine) whip = null;
        phase = "idle";
        fail(e.message);
        render();
        poll();
      }
    }

    function onConnection(mine, state) {
      if (whip !== mine) return;
      if (state === "connected") { phase = "sending"; retries = 0; fail(""); }
      else if (state === "failed" || state === "closed") {
        // Lost network or the server closed us: reconnect as an encoder does, unless another
        // publisher took over (poll decides) or the broadcast ended.
        phase = "reconnecting";
        const delay = Math.min(1000 * Math.pow(2, retries++), 10000);
        retryTimer = setTimeout(async function () {
          await poll();
          if (phase === "reconnecting") start();
        }, delay);
      }
      render();
    }

    async function pause() {
      clearTimeout(retryTimer); retryTimer = null;
      const mine = whip;
      whip = null;
      phase = "idle";
      dropSession();
      if (mine) await mine.stop();  // the DELETE: the broadcast is interrupted, not ended
      render();
      poll();
    }

    async function endBroadcast() {
      fail("");
      endBtn.disabled = true;
      try {
        const slot = await window.cloudexpo.api("POST", "/api/slots/" + data.slot + "/end");
        fromServer(slot);
        server.publisher = null;
        phase = "ended";
        dropSession();
        // nothing more to send: the camera and microphone go off
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; video.srcObject = null; }
        if (audioCtx) { audioCtx.close(); audioCtx = null; }
      } catch (e) { fail(e.message); }
      render();
      poll();
    }

    async function stats() {
      if (!whip || !whip.pc || phase !== "sending") return;
      const report = await whip.pc.getStats();
      let loss = null, rtt = null;
      report.forEach(function (r) {
        const kind = r.kind || r.mediaType;
        if (r.type === "outbound-rtp" && kind === "video") {
          if (last && r.timestamp > last.timestamp) {
            setText("bitrate", Math.round((r.bytesSent - last.bytesSent) * 8 / (r.timestamp - last.timestamp)) + " " + strings.kbps);
            if (typeof r.framesEncoded === "number") setText("fps", Math.round((r.framesEncoded - last.framesEncoded) * 1000 / (r.timestamp - last.timestamp)) + " " + strings.fpsUnit);
          }
          if (r.framesPerSecond) setText("fps", Math.round(r.framesPerSecond) + " " + strings.fpsUnit);
          if (r.frameWidth) setText("resolution", r.frameWidth + "×" + r.frameHeight);
          last = r;
        }
        if (r.type === "remote-inbound-rtp" && kind === "video") {
          if (typeof r.fractionLost === "number") loss = r.fractionLost;
          if (typeof r.roundTripTime === "number") rtt = r.roundTripTime;
        }
      });
      setText("loss", loss === null ? "0 %" : percent(loss));
      if (rtt !== null) setText("rtt", Math.round(rtt * 1000) + " " + strings.ms);
    }

    // --- wiring -----------------------------------------------------------------------------------
    el("use-camera").addEventListener("click", camera);
    el("share-screen").addEventListener("click", screen);
    cameraSel.addEventListener("change", function () { if (stream) camera(); });
    micSel.addEventListener("change", function () { if (stream) camera(); });
    startBtn.addEventListener("click", start);
    resumeBtn.addEventListener("click", start);
    pauseBtn.addEventListener("click", pause);
    endBtn.addEventListener("click", function () {
      if (dialog && dialog.showModal) { dialog.returnValue = ""; dialog.showModal(); }
      else if (window.confirm(el("end-dialog").textContent.trim())) endBroadcast();
    });
    if (dialog) dialog.addEventListener("close", function () { if (dialog.returnValue === "end") endBroadcast(); });
    // Leaving or reloading ends this page's session only: viewers wait ("back in a moment"),
    // and the reloaded page offers to resume.
    window.addEventListener("pagehide", function () { if (whip) whip.stop({ keepalive: true }); });
    window.addEventListener("online", function () { if (phase === "reconnecting") { clearTimeout(retryTimer); start(); } });

    // The audience's reactions since the console opened, totalled per emoji (reactions.js names them).
    const reactionTotals = {};
    function addReactions(counts) {
      const emoji = (window.cloudexpo.bursts || {}).emoji || {};
      Object.keys(counts).forEach(function (kind) { reactionTotals[kind] = (reactionTotals[kind] || 0) + counts[kind]; });
      setText("reaction-totals", Object.keys(emoji).filter(function (k) { return reactionTotals[k] > 0; })
        .map(function (k) { return emoji[k] + " " + reactionTotals[k]; }).join("  ") || "—");
    }

    if (window.cloudexpo.openSocket) {
      window.cloudexpo.liveSocket = window.cloudexpo.openSocket([data.slot]);  // the page's live socket, as on the watch page
      document.addEventListener("cloudexpo:ws", function (ev) {
        const m = ev.detail;
        if ((m.type === "state" || m.type === "snapshot") && m.slot === data.slot) {
          fromServer(m);
          if (m.type === "snapshot" && typeof m.viewers === "number") setText("viewer-count", m.viewers);
          render();
        }
        if (m.type === "viewers" && m.slot === data.slot) setText("viewer-count", m.count);
        if (m.type === "reactions" && m.slot === data.slot) addReactions(m.counts);
      });
    }
    if (!window.RTCPeerConnection) fail(strings.noWebrtc);
    let wasSending = false;
    try { wasSending = sessionStorage.getItem(memoryKey) === "1"; } catch (e) { /* private mode */ }
    if (wasSending && RUNNING.indexOf(server.state) >= 0) camera();  // reloaded mid-broadcast: the camera is ready to resume
    listDevices();
    render();
    poll();
    setInterval(poll, 2000);
    setInterval(stats, 1000);
    setInterval(tickClock, 1000);
    window.cloudexpo.golive = { start: start, pause: pause, end: endBroadcast, phase: function () { return phase; }, whip: function () { return whip; } };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", presenter); else presenter();
})();

// Exhibitor go-live page (camera/screen, preview, level meter, WHIP, getStats figures),
// the dashboard's slot request form, and the moderators' control room buttons.
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

  function goLive() {
    const root = $('[data-role="golive"]');
    const dataEl = document.getElementById("golive-data");
    if (!root || !dataEl) return;
    const data = JSON.parse(dataEl.textContent);
    const strings = JSON.parse(document.getElementById("golive-strings").textContent);
    const video = document.getElementById("preview-video");
    const cameraSel = $('[data-role="camera"]'), micSel = $('[data-role="microphone"]');
    const startBtn = $('[data-role="start"]'), stopBtn = $('[data-role="stop"]');
    const errorEl = $('[data-role="error"]'), warnEl = $('[data-role="warning"]');
    const meter = $('[data-role="meter"]');
    let stream = null, whip = null, audioCtx = null, statsTimer = null, lastBytes = null, lastFrames = null, lastTime = null;

    const fail = function (text) { errorEl.textContent = text; errorEl.hidden = !text; };
    const setText = function (role, text) { const el = $('[data-role="' + role + '"]'); if (el) el.textContent = text; };
    const airState = function (state) {
      const el = $('[data-role="air-state"]');
      el.textContent = strings[state] || state;
      el.className = "badge" + (state === "live" ? " live" : state === "green_room" ? " soon" : "");
    };

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
      if (!tracks.length || !(window.AudioContext || window.webkitAudioContext)) return;
      audioCtx = new (window.AudioContext || window.webkitAudioContext)();
      const analyser = audioCtx.createAnalyser();
      analyser.fftSize = 512;
      audioCtx.createMediaStreamSource(new MediaStream([tracks[0]])).connect(analyser);
      const buf = new Uint8Array(analyser.fftSize);
      const ctx = audioCtx;
      const tick = function () {
        if (audioCtx !== ctx) return;
        analyser.getByteTimeDomainData(buf);
        let peak = 0;
        for (let i = 0; i < buf.length; i++) peak = Math.max(peak, Math.abs(buf[i] - 128));
        meter.style.width = Math.min(100, Math.round(peak / 128 * 140)) + "%";
        requestAnimationFrame(tick);
      };
      tick();
    }

    async function useStream(s) {
      if (stream && stream !== s) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = s;
      video.srcObject = s;
      levelMeter(s);
      startBtn.disabled = !!whip;
      if (whip && whip.pc) {
        // Live switch between camera and screen: replace tracks without renegotiating.
        whip.pc.getSenders().forEach(function (sender) {
          const t = sender.track && s.getTracks().find(function (n) { return n.kind === sender.track.kind; });
          if (t) sender.replaceTrack(t);
        });
      }
    }

    async function camera() {
      fail("");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { fail(strings.noMedia); return; }
      try {
        const s = await navigator.mediaDevices.getUserMedia({
          video: cameraSel.value ? { deviceId: { exact: cameraSel.value }, width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 1280 }, height: { ideal: 720 } },
          audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
        });
        await useStream(s);
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
        const s = new MediaStream(display.getVideoTracks().concat(mic ? mic.getAudioTracks() : []));
        await useStream(s);
      } catch (e) { fail(e.message || String(e)); }
    }

    async function stats() {
      if (!whip || !whip.pc) return;
      const pc = whip.pc;
      setText("ice-state", pc.connectionState || pc.iceConnectionState);
      setText("conn-state", pc.connectionState);
      const report = await pc.getStats();
      report.forEach(function (r) {
        if (r.type === "outbound-rtp" && (r.kind === "video" || r.mediaType === "video")) {
          const now = r.timestamp;
          if (lastBytes !== null && now > lastTime) {
            const kbps = Math.round((r.bytesSent - lastBytes) * 8 / (now - lastTime));
            setText("bitrate", kbps + " kbit/s");
            if (typeof r.framesEncoded === "number" && lastFrames !== null) setText("fps", Math.round((r.framesEncoded - lastFrames) * 1000 / (now - lastTime)) + " fps");
          }
          if (r.framesPerSecond) setText("fps", Math.round(r.framesPerSecond) + " fps");
          if (r.frameWidth) setText("resolution", r.frameWidth + "×" + r.frameHeight);
          lastBytes = r.bytesSent; lastFrames = r.framesEncoded; lastTime = now;
        }
      });
    }

    async function serverState() {
      if (!window.cloudexpo || !window.cloudexpo.api) return;
      try {
        const info = await window.cloudexpo.api("GET", "/api/slots/" + data.slot + "/stats");
        airState(info.state);
        const bframes = (info.warnings || []).find(function (w) { return w.code === "bframes"; });
        warnEl.hidden = !bframes;
        if (bframes) warnEl.textContent = strings.bframes;
      } catch (e) { /* next time */ }
    }

    async function start() {
      fail("");
      if (!stream) await camera();
      if (!stream) return;
      if (!window.RTCPeerConnection) { fail(strings.noWebrtc); return; }
      startBtn.disabled = true;
      whip = new window.cloudexpo.WhipClient(data.whip, data.token, data.ice_servers);
      try {
        const pc = await whip.publish(stream);
        data.ice_servers = whip.iceServers;  // fresh TURN credentials from the answer, for the next start
        pc.addEventListener("connectionstatechange", function () { setText("conn-state", pc.connectionState); setText("ice-state", pc.connectionState); });
        stopBtn.disabled = false;
        if (whip.state) airState(whip.state);
        statsTimer = setInterval(function () { stats(); }, 1000);
      } catch (e) {
        fail(e.message); whip = null; startBtn.disabled = false;
      }
    }

    async function stop() {
      clearInterval(statsTimer); statsTimer = null;
      if (whip) { await whip.stop(); whip = null; }
      stopBtn.disabled = true; startBtn.disabled = !stream;
      setText("conn-state", "—"); setText("bitrate", "—"); setText("fps", "—");
      serverState();
    }

    $('[data-role="use-camera"]').addEventListener("click", camera);
    $('[data-role="share-screen"]').addEventListener("click", screen);
    cameraSel.addEventListener("change", function () { if (stream) camera(); });
    micSel.addEventListener("change", function () { if (stream) camera(); });
    startBtn.addEventListener("click", start);
    stopBtn.addEventListener("click", stop);
    window.addEventListener("pagehide", function () { if (whip) whip.stop(); });
    if (!window.RTCPeerConnection) fail(strings.noWebrtc);
    listDevices();
    setInterval(serverState, 2000);
    window.cloudexpo.golive = { start: start, stop: stop, camera: camera, whip: function () { return whip; } };
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
        $('[data-role="updated"]').textContent = new Date().toLocaleTimeString();
      } catch (e) { /* keep the old figures */ }
    };
    setInterval(refresh, 2000);
  }

  const init = function () { copyButtons(); goLive(); controlRoom(); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

// WHEP client: receive a live broadcast (recvonly offer, 201 + Location, DELETE to leave).
// options.iceServers: STUN/TURN servers for RTCPeerConnection (the page's). Needs ice.js.
// onstall(): no video packet arrived for STALL_MS although some had: the node serving this
// session may be gone (a crashed or restarted node of a cluster). ICE would notice only after
// several seconds, so the page decides from the broadcast's state whether to POST a new offer:
// the proxy sends it to a node that is up, and any node plays any live broadcast.
// onmedia(): the first video packets of this session arrived.
// Answers link the broadcast's live HLS playlist (Link rel="alternate"): on a 201 for a
// player whose WebRTC then does not connect, on a 503 (the server is full) with Retry-After.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};

  const STALL_MS = 1200;

  class WhepClient {
    constructor(url, options) {
      this.url = url; this.options = options || {};
      this.pc = null; this.location = null; this.stream = null; this.linkedIceServers = []; this.hlsUrl = null;
      this.onstate = null; this.onstall = null; this.onmedia = null; this.stallTimer = null;
    }
    // Every 300 ms: has the video's packet count moved? (getStats' inbound-rtp, as chrome://webrtc-internals shows it)
    watchMedia() {
      const pc = this.pc, self = this;
      let last = -1, movedAt = Date.now();
      this.stallTimer = setInterval(async function () {
        if (self.pc !== pc) { clearInterval(self.stallTimer); return; }
        let packets = 0;
        try {
          (await pc.getStats()).forEach(function (r) { if (r.type === "inbound-rtp" && r.kind === "video") packets = r.packetsReceived || 0; });
        } catch (e) { return; }
        if (packets !== last) {
          if (last <= 0 && packets > 0 && self.onmedia) self.onmedia();
          last = packets; movedAt = Date.now(); return;
        }
        if (packets > 0 && Date.now() - movedAt >= STALL_MS && self.onstall) {
          clearInterval(self.stallTimer); self.stallTimer = null;
          self.onstall();
        }
      }, 300);
    }
    async play(video) {
      if (!window.RTCPeerConnection) { const e = new Error("WebRTC is not available in this browser."); e.blocked = true; throw e; }
      const pc = new RTCPeerConnection({ iceServers: this.options.iceServers || [], bundlePolicy: "max-bundle" });
      this.pc = pc;
      const stream = new MediaStream();
      this.stream = stream;
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.ontrack = function (ev) {
        stream.addTrack(ev.track);
        if (video.srcObject !== stream) video.srcObject = stream;
      };
      const self = this;
      pc.addEventListener("connectionstatechange", function () { if (self.onstate) self.onstate(pc.connectionState); });
      await pc.setLocalDescription(await pc.createOffer());
      // Relay candidates over TCP/TLS take a round trip or two to the TURN server.
      await window.cloudexpo.waitForIce(pc, (this.options.iceServers || []).length ? 3000 : 2000);
      const headers = { "Content-Type": "application/sdp" };
      if (this.options.token) headers["Authorization"] = "Bearer " + this.options.token;
      // A moderator's or the booth staff's green-room preview rides on the sign-in cookie,
      // which the server accepts only with this page's CSRF token.
      // (Only to our own server: an external cluster's WHEP URL gets no header it would have to allow.)
      else if (window.cloudexpo.csrf && new URL(this.url, location.href).origin === location.origin) headers["X-CSRF-Token"] = window.cloudexpo.csrf;
      const res = await fetch(this.url, { method: "POST", headers: headers, body: pc.localDescription.sdp, credentials: "same-origin" });
      const text = await res.text();
      this.hlsUrl = alternateHls(res.headers.get("Link")) || this.hlsUrl;
      if (res.status !== 201) {
        pc.close(); this.pc = null;
        let detail = text;
        try { const body = JSON.parse(text); detail = body.message || body.detail; } catch (e) { /* plain */ }
        const err = new Error(detail || ("WHEP answered " + res.status)); err.status = res.status;
        err.retryAfter = Number(res.headers.get("Retry-After")) || 0; err.hlsUrl = this.hlsUrl;
        throw err;
      }
      this.location = res.headers.get("Location");
      // The ICE servers this answer names (TURN with a fresh credential), for the next attempt.
      this.linkedIceServers = window.cloudexpo.linkIceServers(res.headers.get("Link"));
      await pc.setRemoteDescription({ type: "answer", sdp: text });
      this.watchMedia();
      return pc;
    }
    async stop() {
      const location = this.location;
      if (this.stallTimer) { clearInterval(this.stallTimer); this.stallTimer = null; }
      if (this.pc) { this.pc.close(); this.pc = null; }
      this.location = null;
      if (location) { try { await fetch(location, { method: "DELETE" }); } catch (e) { /* gone */ } }
    }
  }

  // Link: <https://…/live.m3u8>; rel="alternate"; type="application/vnd.apple.mpegurl"
  function alternateHls(header) {
    if (!header) return null;
    const part = header.split(/,(?=\s*<)/).find(function (p) { return /rel="?alternate"?/.test(p) && /mpegurl/i.test(p); });
    const m = part && part.match(/<([^>]+)>/);
    return m ? m[1] : null;
  }

  window.cloudexpo.WhepClient = WhepClient;
})();

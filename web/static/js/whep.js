// WHEP client: receive a live broadcast (recvonly offer, 201 + Location, DELETE to leave).
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};

  class WhepClient {
    constructor(url, options) {
      this.url = url; this.options = options || {};
      this.pc = null; this.location = null; this.stream = null;
      this.onstate = null;
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
      await window.cloudexpo.waitForIce(pc, 2000);
      const headers = { "Content-Type": "application/sdp" };
      if (this.options.token) headers["Authorization"] = "Bearer " + this.options.token;
      // A moderator's or the booth staff's green-room preview rides on the sign-in cookie,
      // which the server accepts only with this page's CSRF token.
      else if (window.cloudexpo.csrf) headers["X-CSRF-Token"] = window.cloudexpo.csrf;
      const res = await fetch(this.url, { method: "POST", headers: headers, body: pc.localDescription.sdp, credentials: "same-origin" });
      const text = await res.text();
      if (res.status !== 201) {
        pc.close(); this.pc = null;
        let detail = text;
        try { detail = JSON.parse(text).detail; } catch (e) { /* plain */ }
        const err = new Error(detail || ("WHEP answered " + res.status)); err.status = res.status; throw err;
      }
      this.location = res.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: text });
      return pc;
    }
    async stop() {
      const location = this.location;
      if (this.pc) { this.pc.close(); this.pc = null; }
      this.location = null;
      if (location) { try { await fetch(location, { method: "DELETE" }); } catch (e) { /* gone */ } }
    }
  }

  if (!window.cloudexpo.waitForIce) {
    window.cloudexpo.waitForIce = function (pc, ms) {
      if (pc.iceGatheringState === "complete") return Promise.resolve();
      return new Promise(function (resolve) {
        const t = setTimeout(resolve, ms || 2000);
        pc.addEventListener("icegatheringstatechange", function () { if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); } });
      });
    };
  }
  window.cloudexpo.WhepClient = WhepClient;
})();

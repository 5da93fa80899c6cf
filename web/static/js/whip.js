// WHIP client (RFC 9725): publish a MediaStream to a WHIP endpoint with a bearer token.
// Non-trickle: the offer carries every ICE candidate (we wait for gathering to finish).
// Needs ice.js.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};

  class WhipClient {
    constructor(url, token, iceServers) {
      this.url = url; this.token = token; this.iceServers = iceServers || [];
      this.pc = null; this.location = null;
    }
    async publish(stream) {
      if (!window.RTCPeerConnection) throw new Error("WebRTC is not available in this browser.");
      const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
      this.pc = pc;
      stream.getTracks().forEach(function (track) {
        pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      });
      // Prefer H.264 (OBS, Safari and replays need it); keep VP8 as a fallback.
      if (window.RTCRtpSender && RTCRtpSender.getCapabilities) {
        const caps = RTCRtpSender.getCapabilities("video");
        if (caps) {
          const h264 = caps.codecs.filter(function (c) { return /h264/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine || ""); });
          const rest = caps.codecs.filter(function (c) { return h264.indexOf(c) < 0; });
          pc.getTransceivers().forEach(function (t) {
            if (t.sender.track && t.sender.track.kind === "video" && t.setCodecPreferences && h264.length) t.setCodecPreferences(h264.concat(rest));
          });
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await window.cloudexpo.waitForIce(pc, 3000);
      const res = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + this.token },
        body: pc.localDescription.sdp,
      });
      const text = await res.text();
      if (res.status !== 201) {
        let detail = text;
        try { const body = JSON.parse(text); detail = body.message || body.detail; } catch (e) { /* plain text */ }
        pc.close(); this.pc = null;
        const err = new Error(detail || ("WHIP answered " + res.status)); err.status = res.status; throw err;
      }
      this.location = res.headers.get("Location");
      this.state = res.headers.get("X-Slot-State");
      // Fresh TURN credentials for the next publish (a reconnect may come after these expire).
      const linked = window.cloudexpo.linkIceServers(res.headers.get("Link"));
      if (linked.length) this.iceServers = linked;
      await pc.setRemoteDescription({ type: "answer", sdp: text });
      return pc;
    }
    // Ends this publishing session (the broadcast is only interrupted). keepalive: the DELETE still
    // goes out while the page unloads (a reload or a closed tab).
    async stop(options) {
      const location = this.location;
      if (this.pc) { this.pc.close(); this.pc = null; }
      this.location = null;
      if (location) {
        const init = { method: "DELETE", headers: { "Authorization": "Bearer " + this.token }, keepalive: !!(options && options.keepalive) };
        try { await fetch(location, init); } catch (e) { /* gone already */ }
      }
    }
    // The session id the server gave this publisher (the last part of its Location).
    get sessionId() {
      return this.location ? this.location.split("/").pop() : null;
    }
  }

  window.cloudexpo.WhipClient = WhipClient;
})();

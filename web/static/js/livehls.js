// The watch page's delayed stream: the broadcast's live HLS playlist (object storage or a CDN)
// in hls.js, or natively on Safari, for viewers whose WebRTC cannot connect or whose server is full.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};

  // The recorder cuts ~2 s segments. Play 3 s behind the newest one (about 5 s behind the camera)
  // and catch up, by playing up to 10 % faster, when a stall left the player further behind.
  const CONFIG = {
    liveSyncDuration: 3,
    liveMaxLatencyDuration: 10,
    maxLiveSyncPlaybackRate: 1.1,
    maxBufferLength: 10,
    backBufferLength: 30,
    manifestLoadingMaxRetry: 4,
    levelLoadingMaxRetry: 6,
    fragLoadingMaxRetry: 6,
  };

  class LiveHlsPlayer {
    constructor(video, url) { this.video = video; this.url = url; this.hls = null; this.onfatal = null; }

    static supported(video) {
      return !!((window.Hls && window.Hls.isSupported()) || video.canPlayType("application/vnd.apple.mpegurl"));
    }

    start() {
      const video = this.video, self = this;
      video.srcObject = null;
      if (window.Hls && window.Hls.isSupported()) {
        const hls = new window.Hls(CONFIG);
        this.hls = hls;
        hls.on(window.Hls.Events.ERROR, function (ev, d) {
          if (!d.fatal) return;
          if (d.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
          if (self.onfatal) self.onfatal(d.details);  // e.g. no playlist yet: the first segment is still being cut
        });
        hls.loadSource(this.url);
        hls.attachMedia(video);
      } else {
        video.src = this.url;
      }
    }

    // Seconds between the picture on screen and its arrival at the server (EXT-X-PROGRAM-DATE-TIME).
    delay() {
      const at = this.hls && this.hls.playingDate;
      return at ? (Date.now() - at.getTime()) / 1000 : null;
    }

    stop() {
      if (this.hls) { this.hls.destroy(); this.hls = null; return; }
      this.video.removeAttribute("src");
      this.video.load();
    }
  }

  window.cloudexpo.LiveHlsPlayer = LiveHlsPlayer;
})();

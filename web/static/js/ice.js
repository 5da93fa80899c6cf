// ICE helpers shared by the WHIP and WHEP clients: wait for gathering (non-trickle
// offers carry every candidate), and read the ICE servers a WHIP/WHEP answer names
// in RFC 9725 Link headers (TURN with a credential minted for that session).
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};

  function waitForIce(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      const done = function () { pc.removeEventListener("icegatheringstatechange", check); clearTimeout(timer); resolve(); };
      const check = function () { if (pc.iceGatheringState === "complete") done(); };
      const timer = setTimeout(done, timeoutMs || 3000);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  // Link: <turn:host:3478?transport=tcp>; rel="ice-server"; username="u"; credential="p"; credential-type="password", <...>
  // Values that share a username and credential become one server with several urls.
  function linkIceServers(header) {
    const out = [];
    if (!header) return out;
    header.split(/,(?=\s*<)/).forEach(function (part) {
      const m = part.match(/<([^>]+)>/);
      if (!m || !/rel="?ice-server"?/.test(part)) return;
      const u = part.match(/username="([^"]*)"/); const c = part.match(/credential="([^"]*)"/);
      const same = out.find(function (s) { return s.username === (u ? u[1] : undefined) && s.credential === (c ? c[1] : undefined); });
      if (same) { same.urls.push(m[1]); return; }
      const server = { urls: [m[1]] };
      if (u) server.username = u[1];
      if (c) server.credential = c[1];
      out.push(server);
    });
    return out;
  }

  window.cloudexpo.waitForIce = waitForIce;
  window.cloudexpo.linkIceServers = linkIceServers;
})();

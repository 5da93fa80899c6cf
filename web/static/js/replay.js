// Replays and live rewind: hls.js (native HLS where there is no Media Source), captions, chat in sync,
// progress, editing.
(function () {
  "use strict";
  const root = document.querySelector('[data-role="replay-player"]');
  if (!root) return;
  const slot = root.dataset.slot;
  const lang = root.dataset.lang || "en";
  const strings = JSON.parse((document.getElementById("replay-strings") || {}).textContent || "{}");
  window.cloudexpo = window.cloudexpo || {};
  // app.js (loaded after this partial's script) defines cloudexpo.api; look it up when called
  const api = function (method, url, body) { return window.cloudexpo.api(method, url, body); };
  const video = root.querySelector("video");
  // the player's parts are inside it; the replay page puts the chat in its right column
  const $ = function (role) { const sel = '[data-role="' + role + '"]'; return root.querySelector(sel) || document.querySelector(sel); };
  const livePlayer = document.querySelector('[data-role="player"]');
  const liveChat = document.querySelector('[data-role="chat"]');
  const rewindBox = document.querySelector('[data-role="replay-rewind"]');
  let info = null, hls = null, mode = null, chat = [], shown = 0, watched = 0, lastTime = null;

  // mp4: the replay's download (H.264 + AAC) on the same (trimmed) timeline, for browsers that cannot play the
  // segments' Opus (as the publisher sent it): native HLS only (iPhones before iOS 17.1), or Media Source
  // without Opus in MP4
  function opusInMediaSource() {
    const source = window.ManagedMediaSource || window.MediaSource;
    return !!(source && source.isTypeSupported && source.isTypeSupported('audio/mp4; codecs="opus"'));
  }

  function attach(url, onReady, mp4) {
    if (hls) { hls.destroy(); hls = null; }
    const mse = window.Hls && window.Hls.isSupported();
    const direct = mp4 && !opusInMediaSource() ? mp4 : (!mse && video.canPlayType("application/vnd.apple.mpegurl") ? url : null);
    if (direct) {
      video.src = direct;
      video.addEventListener("loadedmetadata", function once() { video.removeEventListener("loadedmetadata", once); if (onReady) onReady(); });
    } else if (mse) {
      hls = new window.Hls({ liveDurationInfinity: false, maxBufferLength: 20 });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { if (onReady) onReady(); });
      hls.on(window.Hls.Events.ERROR, function (ev, d) { if (d.fatal) { const e = $("replay-error"); e.textContent = strings.unavailable + " (" + d.details + ")"; e.hidden = false; } });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else {
      const e = $("replay-error"); e.textContent = strings.unavailable; e.hidden = false;
    }
  }

  function captions() {
    video.querySelectorAll("track").forEach(function (t) { t.remove(); });
    const langs = Object.keys((info && info.captions) || {});
    langs.forEach(function (l, i) {
      const track = document.createElement("track");
      track.kind = "subtitles"; track.srclang = l; track.label = l; track.src = info.captions[l];
      if (l === lang || (i === 0 && langs.indexOf(lang) < 0)) track.default = true;
      video.appendChild(track);
    });
    Array.prototype.forEach.call(video.textTracks, function (t) { t.mode = t.language === lang || video.textTracks.length === 1 ? "showing" : "hidden"; });
  }

  async function loadChat() {
    try { chat = (await api("GET", info.chat)).messages || []; } catch (e) { chat = []; }
    chat.sort(function (a, b) { return a.at - b.at; });
    $("replay-chat").hidden = false;
    const empty = $("replay-chat-empty");
    if (empty) empty.hidden = chat.length > 0;
    renderChat(true);
  }

  function renderChat(reset) {
    const list = $("replay-chat-list");
    const now = video.currentTime || 0;
    if (reset) { list.textContent = ""; shown = 0; }
    const later = $("replay-chat-later");
    while (shown < chat.length && chat[shown].at <= now) {
      const m = chat[shown++];
      const li = document.createElement("li");
      li.dataset.at = String(m.at);
      const who = document.createElement("strong"); who.className = "chat-author"; who.textContent = m.author;
      const text = document.createElement("span"); text.className = "chat-text"; text.textContent = " " + m.text;
      li.appendChild(who); li.appendChild(text); list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }
    if (later) later.hidden = !(chat.length > 0 && shown === 0);
  }

  video.addEventListener("timeupdate", function () {
    const t = video.currentTime;
    if (lastTime !== null && !video.paused && t > lastTime && t - lastTime < 2) watched += t - lastTime;
    lastTime = t;
    if (mode === "replay") renderChat(false);
  });
  video.addEventListener("seeked", function () { lastTime = video.currentTime; if (mode === "replay") renderChat(true); });
  setInterval(function () {
    if (mode && watched >= 1) {
      const seconds = Math.round(watched); watched = 0;
      api("POST", "/api/replays/" + slot + "/progress", { seconds: seconds }).catch(function () {});
    }
  }, 15000);

  function manage() {
    const form = $("replay-manage");
    if (!info.can_manage) { form.hidden = true; return; }
    form.hidden = false;
    $("published").checked = !!info.published;
    $("trim-start").value = info.trim_start || 0;
    $("trim-end").value = info.trim_end === null ? "" : info.trim_end;
    $("replay-stats").textContent = strings.views + ": " + info.views + " · " + strings.watch + ": " + Math.round(info.watch_seconds / 60);
  }

  function status(text) { $("manage-status").textContent = text; }
  function fill(text, asked, got) { return text.split("{asked}").join(String(asked)).split("{got}").join(String(got)); }
  async function patch(body) {
    try { info = Object.assign(info, await api("PATCH", "/api/replays/" + slot, body)); manage(); status(strings.saved); return true; }
    catch (e) { status(e.message); return false; }
  }
  // Cuts land on keyframes: say where a trim went when it is not where it was asked for.
  function trimNote(askedStart, askedEnd) {
    const notes = [];
    const gotStart = info.trim_start || 0;
    if (Math.abs(gotStart - askedStart) > 0.05) notes.push(fill(strings.snapped_start, askedStart.toFixed(1), gotStart.toFixed(1)));
    if (askedEnd !== null) {
      if (info.trim_end === null) notes.push(fill(strings.snapped_to_end, askedEnd.toFixed(1), ""));
      else if (Math.abs(info.trim_end - askedEnd) > 0.05) notes.push(fill(strings.snapped_end, askedEnd.toFixed(1), info.trim_end.toFixed(1)));
    }
    if (notes.length) status(notes.join(" "));
  }
  $("published").addEventListener("change", function () { patch({ published: $("published").checked }); });
  $("trim-start-now").addEventListener("click", function () { $("trim-start").value = (info.trim_start || 0) + Math.floor(video.currentTime); });
  $("trim-end-now").addEventListener("click", function () { $("trim-end").value = (info.trim_start || 0) + Math.ceil(video.currentTime); });
  $("trim-save").addEventListener("click", async function () {
    const end = $("trim-end").value;
    const askedStart = Number($("trim-start").value || 0), askedEnd = end === "" ? null : Number(end);
    if (!await patch({ trim_start: askedStart, trim_end: askedEnd })) return;
    trimNote(askedStart, askedEnd);
    attach(info.playlist, null, info.download);
  });
  $("caption-upload").addEventListener("click", async function () {
    const file = $("caption-file").files[0];
    if (!file) return;
    const res = await fetch("/api/replays/" + slot + "/captions/" + $("caption-lang").value, {
      method: "PUT", credentials: "same-origin", body: file,
      headers: { "Content-Type": "text/vtt", "X-CSRF-Token": window.cloudexpo.csrf },
    });
    const data = await res.json().catch(function () { return {}; });
    if (!res.ok) { status(data.message || data.detail || res.statusText); return; }
    info = Object.assign(info, data); captions(); status(strings.saved);
  });
  $("replay-delete").addEventListener("click", async function () {
    if (!window.confirm(strings.confirm_delete)) return;
    // the broadcast's page then says the replay was removed and offers others
    try { await api("DELETE", "/api/replays/" + slot); status(strings.deleted); if (hls) hls.destroy(); video.removeAttribute("src"); window.location.assign("/live/" + slot); }
    catch (e) { status(e.message); }
  });

  function showReplay() {
    mode = "replay";
    if (livePlayer) livePlayer.hidden = true;
    if (liveChat) {  // the watch page: the chat as it happened takes the live chat's place in the right column
      const box = $("replay-chat");
      Array.prototype.forEach.call(liveChat.children, function (el) { if (el !== box) el.hidden = true; });
      box.classList.remove("card");
      liveChat.appendChild(box);
    }
    if (rewindBox) rewindBox.hidden = true;
    root.hidden = false;
    $("dvr-badge").hidden = true; $("replay-badge").hidden = false; $("back-to-live").hidden = true;
    const dl = $("download");
    if (info.download) { dl.href = info.download; dl.hidden = false; }
    attach(info.playlist, null, info.download);
    captions();
    loadChat();
    manage();
  }

  function startRewind() {
    mode = "dvr";
    const live = livePlayer && livePlayer.querySelector("video");
    if (live) live.pause();
    if (livePlayer) livePlayer.hidden = true;
    if (rewindBox) rewindBox.hidden = true;
    root.hidden = false;
    $("dvr-badge").hidden = false; $("replay-badge").hidden = true; $("back-to-live").hidden = false;
    attach(info.dvr_playlist, function () {
      video.play().catch(function () {});
    });
  }

  function backToLive() {
    if (hls) { hls.destroy(); hls = null; }
    video.pause(); video.removeAttribute("src");
    root.hidden = true; mode = null;
    if (rewindBox && info && info.state === "recording") rewindBox.hidden = false;
    if (livePlayer) { livePlayer.hidden = false; const live = livePlayer.querySelector("video"); if (live) live.play().catch(function () {}); }
  }
  $("back-to-live").addEventListener("click", backToLive);
  const rewind = document.querySelector('[data-role="rewind"]');
  if (rewind) rewind.addEventListener("click", startRewind);

  async function refresh() {
    if (mode === "replay") return;
    try { info = await api("GET", "/api/replays/" + slot); } catch (e) { info = null; }
    if (!info) return;
    if (info.state === "recording" && info.on_air) { if (rewindBox && livePlayer && mode !== "dvr") rewindBox.hidden = false; }
    else if (info.state === "processing" || info.state === "ready" || info.state === "recording") { if (mode !== "dvr" || !livePlayer) showReplay(); }
  }
  window.cloudexpo.replay = { video: video, mode: function () { return mode; }, rewind: startRewind, backToLive: backToLive, chat: function () { return chat; } };
  function begin() { refresh(); setInterval(refresh, 3000); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", begin); else begin();
})();

// The replay's overlays in sync with its video, as replay.js keeps its chat: bursts of the reactions
// counted at each moment, the chat's messages as bullet comments, and what was pinned then.
(function () {
  "use strict";
  const root = document.querySelector('[data-role="replay-player"]');
  if (!root) return;
  const stage = root.querySelector(".replay-stage");
  const pinBox = stage.querySelector('[data-role="player-pin"]');
  let timeline = null, loading = false, nextReaction = 0, nextChat = 0, chatSeen = 0, last = 0;

  const replay = function () { return window.cloudexpo && window.cloudexpo.replay; };
  const firstAfter = function (items, t) { let i = 0; while (i < items.length && items[i].at < t) i++; return i; };

  async function load() {
    if (timeline || loading) return;
    loading = true;
    try { timeline = await window.cloudexpo.api("GET", "/api/replays/" + root.dataset.slot + "/reactions"); }
    catch (e) { timeline = { intervals: [], pins: [] }; }
    loading = false;
    jump(replay().video.currentTime || 0);
  }

  function jump(t) {  // after a seek: nothing from before the new position bursts out at once
    if (!timeline) return;
    nextReaction = firstAfter(timeline.intervals, t);
    nextChat = firstAfter(replay().chat() || [], t);
    last = t;
    pin(t);
  }

  function pin(t) {
    if (!pinBox || !timeline) return;
    let shown = null;
    timeline.pins.forEach(function (p) { if (p.at <= t && (p.until === null || t < p.until)) shown = p; });
    pinBox.hidden = !shown;
    pinBox.querySelector('[data-role="pin-author"]').textContent = shown ? shown.author : "";
    pinBox.querySelector('[data-role="pin-text"]').textContent = shown ? shown.text : "";
  }

  function play() {
    const r = replay();
    if (!r || r.mode() !== "replay") return;
    if (!timeline) { load(); return; }
    const t = r.video.currentTime;
    if (t < last || t - last > 3) { jump(t); return; }  // a seek, or a jump the player made
    const intervals = timeline.intervals, chat = r.chat() || [];
    if (chat.length !== chatSeen) { chatSeen = chat.length; nextChat = firstAfter(chat, last); }  // the chat came in
    while (nextReaction < intervals.length && intervals[nextReaction].at <= t) {
      window.cloudexpo.bursts.show(stage, intervals[nextReaction++].counts, 500);
    }
    while (nextChat < chat.length && chat[nextChat].at <= t) window.cloudexpo.bullets.fly(stage, chat[nextChat++].text);
    pin(t);
    last = t;
  }

  function begin() {
    const r = replay();
    if (!r) return;
    r.video.addEventListener("timeupdate", play);
    r.video.addEventListener("seeked", function () { jump(r.video.currentTime); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", begin); else begin();
})();

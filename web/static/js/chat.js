// Chat beside a broadcast: shows messages from /ws, sends through /ws (or the JSON API),
// gives moderators delete and mute buttons, moderators and presenters pin, moderators set slow
// mode; the pinned message shows above the chat and on the player. Text is always set as textContent.
(function () {
  "use strict";
  const init = function () {
    const root = document.querySelector('[data-role="chat"]');
    const dataEl = document.getElementById("live-data");
    if (!root || !dataEl) return;
    const data = JSON.parse(dataEl.textContent);
    const strings = JSON.parse((document.getElementById("live-strings") || { textContent: "{}" }).textContent);
    const list = root.querySelector('[data-role="chat-list"]');
    const form = root.querySelector('[data-role="chat-form"]');
    const errorEl = root.querySelector('[data-role="chat-error"]');
    const seen = new Set();

    const addTools = function (li, msg) {
      if (data.can_pin) {
        const pin = document.createElement("button");
        pin.type = "button"; pin.className = "chat-tool"; pin.textContent = strings.pin || "Pin";
        pin.addEventListener("click", async function () {
          try { await window.cloudexpo.api("POST", "/api/slots/" + data.slot + "/pin", { message_id: msg.id }); } catch (e) { showError(e.message); }
        });
        li.append(" ", pin);
      }
      if (!data.moderator) return;
      const del = document.createElement("button");
      del.type = "button"; del.className = "chat-tool"; del.textContent = strings.delete || "Delete";
      del.addEventListener("click", async function () {
        try { await window.cloudexpo.api("DELETE", "/api/chat/" + msg.id); } catch (e) { showError(e.message); }
      });
      const mute = document.createElement("button");
      mute.type = "button"; mute.className = "chat-tool"; mute.textContent = strings.mute || "Mute";
      mute.addEventListener("click", async function () {
        try { await window.cloudexpo.api("POST", "/api/slots/" + data.slot + "/mutes", { user_id: msg.user_id }); } catch (e) { showError(e.message); }
      });
      li.append(del, mute);
    };
    const render = function (msg) {
      if (seen.has(msg.id)) return;
      seen.add(msg.id);
      const li = document.createElement("li");
      li.dataset.id = msg.id; li.dataset.user = msg.user_id;
      const who = document.createElement("strong"); who.className = "chat-author"; who.textContent = msg.author;
      const text = document.createElement("span"); text.className = "chat-text"; text.textContent = msg.text;
      li.append(who, " ", text);
      addTools(li, msg);
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(li);
      while (list.children.length > 300) list.removeChild(list.firstChild);
      if (atBottom) list.scrollTop = list.scrollHeight;
    };
    list.querySelectorAll("li[data-id]").forEach(function (li) {
      const id = Number(li.dataset.id); seen.add(id);
      addTools(li, { id: id, user_id: Number(li.dataset.user) });
    });
    list.scrollTop = list.scrollHeight;
    const showError = function (text) {
      if (!errorEl) return;
      errorEl.textContent = text; errorEl.hidden = !text;
      if (text) setTimeout(function () { errorEl.hidden = true; }, 5000);
    };
    // A muted visitor reads but cannot write: the input is disabled with the reason, live.
    const mutedNote = root.querySelector('[data-role="chat-muted"]');
    const setMuted = function (muted) {
      data.muted = muted;
      if (form) form.querySelectorAll("input, button").forEach(function (el) { el.disabled = muted; });
      if (mutedNote) mutedNote.hidden = !muted;
    };
    // The pinned message: above the chat, and on the player of the watch page.
    const pinBoxes = [root.querySelector('[data-role="chat-pin"]'), document.querySelector('[data-role="player-pin"]')].filter(Boolean);
    const showPin = function (pin) {
      pinBoxes.forEach(function (box) {
        box.hidden = !pin;
        box.querySelector('[data-role="pin-author"]').textContent = pin ? pin.author : "";
        box.querySelector('[data-role="pin-text"]').textContent = pin ? pin.text : "";
      });
    };
    const unpin = root.querySelector('[data-role="unpin"]');
    if (unpin) unpin.addEventListener("click", async function () {
      try { await window.cloudexpo.api("DELETE", "/api/slots/" + data.slot + "/pin"); showPin(null); } catch (e) { showError(e.message); }
    });
    const pinForm = root.querySelector('[data-role="pin-form"]');
    if (pinForm) pinForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const input = pinForm.querySelector("input[name=text]");
      try { showPin(await window.cloudexpo.api("POST", "/api/slots/" + data.slot + "/pin", { text: input.value })); input.value = ""; } catch (e) { showError(e.message); }
    });
    // Slow mode: the note under the input says the pace; after a message the button counts down.
    const slowNote = root.querySelector('[data-role="slow-note"]');
    const fill = function (text, seconds) { return (text || "").split("{seconds}").join(String(seconds)); };
    const setSlow = function (seconds) {
      data.slow_seconds = seconds;
      if (slowNote) { slowNote.textContent = fill(strings.slow, seconds); slowNote.hidden = !seconds; }
      const select = root.querySelector('[data-role="slow-select"]');
      if (select) select.value = String(seconds);
    };
    let countdown = null;
    const waitFor = function (seconds) {
      if (!form) return;
      const button = form.querySelector("button");
      const label = button.dataset.label || (button.dataset.label = button.textContent);
      clearInterval(countdown);
      let left = Math.ceil(seconds);
      const tick = function () {
        if (left <= 0 || data.muted) { clearInterval(countdown); button.textContent = label; button.disabled = !!data.muted; if (slowNote && data.slow_seconds) slowNote.textContent = fill(strings.slow, data.slow_seconds); return; }
        button.textContent = left + " s"; button.disabled = true;
        if (slowNote) slowNote.textContent = fill(strings.wait, left);
        left -= 1;
      };
      tick(); countdown = setInterval(tick, 1000);
    };
    const slowSelect = root.querySelector('[data-role="slow-select"]');
    if (slowSelect) slowSelect.addEventListener("change", async function () {
      const seconds = Number(slowSelect.value);
      try { await window.cloudexpo.api("PUT", "/api/slots/" + data.slot + "/slow-mode", { seconds: seconds }); setSlow(seconds); showError(seconds ? fill(strings.slow_set, seconds) : strings.slow_off); }
      catch (e) { showError(e.message); }
    });
    let muteEvents = 0;  // mute events heard: newer than a read of the state that began before them
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      // (re)subscribed: the slot's events follow from here; a mute set or lifted before was not heard
      if (m.type === "snapshot" && m.slot === data.slot && data.user_id) {
        const heard = muteEvents;
        window.cloudexpo.api("GET", "/api/slots/" + data.slot + "/chat").then(function (d) {
          if (heard !== muteEvents || d.muted === !!data.muted) return;
          setMuted(d.muted);
          if (!d.muted) showError(strings.unmuted || "");
        }).catch(function () {});
      }
      if ((m.type === "muted" || m.type === "unmuted") && m.slot === data.slot && m.user_id === data.user_id) muteEvents += 1;
      if (m.type === "chat" && m.slot === data.slot) render(m.message);
      if (m.type === "chat_ok") render(m.message);
      if (m.type === "chat_deleted" && m.slot === data.slot) {
        const li = list.querySelector('li[data-id="' + m.id + '"]');
        if (li) li.remove();
      }
      if (m.type === "muted" && m.slot === data.slot && m.user_id === data.user_id) setMuted(true);
      if (m.type === "unmuted" && m.slot === data.slot && m.user_id === data.user_id) { setMuted(false); showError(strings.unmuted || ""); }
      if (m.type === "pinned" && m.slot === data.slot) showPin(m.pin);
      if (m.type === "slow_mode" && m.slot === data.slot) setSlow(m.seconds);
      if (m.type === "error" && m.ref && m.code !== "reactions.unknown_kind" && m.status !== 429) showError(m.message || m.detail);
    });
    if (form) {
      form.addEventListener("submit", async function (ev) {
        ev.preventDefault();
        const input = form.querySelector("input[name=text]");
        const text = input.value.trim();
        if (!text) return;
        showError("");
        try {
          const msg = await window.cloudexpo.api("POST", "/api/slots/" + data.slot + "/chat", { text: text });
          render(msg);
          input.value = "";
          if (data.slow_seconds && !data.exempt) waitFor(data.slow_seconds);
        } catch (e) {
          if (e.data && e.data.code === "chat.muted") { setMuted(true); return; }
          if (e.data && e.data.code === "chat.slow_mode_wait") waitFor(e.data.retry_after || data.slow_seconds);
          showError(e.message);
        }
      });
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

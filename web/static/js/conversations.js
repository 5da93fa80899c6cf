// Cloud Expo — staff at the booth and one-to-one conversations with visitors.
// Loaded on every signed-in page (engagement/bell.html) and on booth pages: the "at the booth" heartbeat
// of this tab, the alert (a short tone, unless muted, and a notice) when a message arrives, the booth
// page's "who is here" and conversation panel, and the /conversations inbox. Live events come over the
// page's /ws (engagement.js dispatches them as "cloudexpo:ws"); shapes in web/routes/conversations.py.
(function () {
  "use strict";
  if (window.cloudexpoConversations) { return; }
  window.cloudexpoConversations = true;
  const api = function (method, url, body) { return window.cloudexpo.api(method, url, body); };
  const send = function (obj) { return window.cloudexpo.wsSend ? window.cloudexpo.wsSend(obj) : false; };
  const ready = function (fn) { if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); } };
  const strings = function () { const el = document.querySelector("[data-conv-strings]"); return el ? el.dataset : {}; };
  const fill = function (text, values) { return String(text || "").replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; }); };
  const el = function (tag, cls, text) { const n = document.createElement(tag); if (cls) { n.className = cls; } if (text != null) { n.textContent = text; } return n; };
  const panels = {};  // open panels by conversation id
  const watched = [];  // booths whose presence this page follows

  // --- the tone: two short notes made with WebAudio, never a file; off with the "Sound" toggle (remembered)
  const SOUND_KEY = "cloudexpo.conversationSound";
  const soundOn = function () { try { return localStorage.getItem(SOUND_KEY) !== "off"; } catch (e) { return true; } };
  let audio = null;
  const unlock = function () {  // browsers let a page make sound only after a gesture
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); if (audio.state === "suspended") { audio.resume(); } } catch (e) { audio = null; }
  };
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
  function tone() {
    if (!soundOn()) { return; }
    const root = document.documentElement;
    root.dataset.conversationTones = String(Number(root.dataset.conversationTones || 0) + 1);
    if (!audio) { return; }
    const now = audio.currentTime;
    [[880, 0], [1320, 0.13]].forEach(function (note) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.0001, now + note[1]);
      gain.gain.exponentialRampToValueAtTime(0.2, now + note[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + note[1] + 0.2);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(now + note[1]);
      osc.stop(now + note[1] + 0.22);
    });
  }
  function soundToggles() {
    document.querySelectorAll("[data-sound-toggle]").forEach(function (btn) {
      const show = function () { const on = soundOn(); btn.setAttribute("aria-pressed", on ? "true" : "false"); btn.textContent = on ? btn.dataset.labelOn : btn.dataset.labelOff; };
      show();
      btn.addEventListener("click", function () {
        try { localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on"); } catch (e) { /* private mode: stays on */ }
        unlock();
        show();
      });
    });
  }

  // --- "at the booth": this tab beats every 20 s while on (sessionStorage: closing the tab ends it)
  const AT_KEY = "cloudexpo.atBooth";
  const atBooth = function () { try { return Number(sessionStorage.getItem(AT_KEY) || 0); } catch (e) { return 0; } };
  const beat = function () { const booth = atBooth(); if (booth) { send({ type: "presence", booth: booth, here: true }); } };
  function presenceToggles() {
    const show = function () {
      document.querySelectorAll("[data-presence-toggle]").forEach(function (btn) {
        const on = atBooth() === Number(btn.dataset.boothId);
        btn.setAttribute("aria-pressed", on ? "true" : "false");
        btn.classList.toggle("on", on);
        btn.querySelector("[data-presence-label]").textContent = on ? btn.dataset.labelOn : btn.dataset.labelOff;
      });
    };
    document.querySelectorAll("[data-presence-toggle]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        const booth = Number(btn.dataset.boothId);
        const was = atBooth();
        if (was) { send({ type: "presence", booth: was, here: false }); }
        try {
          if (was === booth) { sessionStorage.removeItem(AT_KEY); } else { sessionStorage.setItem(AT_KEY, String(booth)); }
        } catch (e) { return; }
        unlock();
        beat();
        show();
      });
    });
    show();
  }
  setInterval(beat, 20000);
  document.addEventListener("cloudexpo:ws-open", function () {
    beat();
    watched.forEach(function (booth) { send({ type: "watch_booth", booth: booth }); });
  });

  // --- the unread count beside "Conversations" in the workspace bar, and notices of new messages
  function showUnread(n) {  // base.html's workspace bar holds the count (web/navigation.py, count="conversations")
    document.querySelectorAll('[data-nav-count="conversations"]').forEach(function (c) { c.textContent = n > 99 ? "99+" : String(n); c.hidden = !n; });
  }
  function notice(data) {
    let box = document.querySelector(".conv-toasts");
    if (!box) {
      box = el("div", "conv-toasts");
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    const s = strings();
    const c = data.conversation;
    const who = c.side === "staff" ? c.visitor.name : c.booth.name || c.booth.number;
    const toast = el("div", "conv-toast");
    const link = el("a", null, fill(s.newMessage || "{name}", { name: who }));
    link.href = c.url;
    toast.appendChild(link);
    toast.appendChild(el("p", "small", data.message.text.length > 140 ? data.message.text.slice(0, 139) + "…" : data.message.text));
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 10000);
  }

  // --- one conversation, in a panel cloned from <template id="conversation-panel">
  function Panel(host, options) {
    const tpl = document.getElementById("conversation-panel");
    this.t = tpl.dataset;
    this.host = host;
    this.id = options.id || null;
    this.booth = options.booth || null;
    this.conv = options.conversation || null;
    this.onClose = options.onClose;
    this.seen = {};
    host.innerHTML = "";
    host.appendChild(tpl.content.cloneNode(true));
    this.root = host.querySelector("[data-conversation-panel]");
    this.log = this.root.querySelector("[data-conv-log]");
    this.form = this.root.querySelector("[data-conv-form]");
    this.result = this.root.querySelector("[data-conv-result]");
    this.shareForm = this.root.querySelector("[data-conv-share-form]");
    const self = this;
    this.form.addEventListener("submit", function (e) { e.preventDefault(); self.submit(); });
    this.form.text.addEventListener("keydown", function (e) {  // Enter sends, Shift+Enter starts a new line
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); self.submit(); }
    });
    this.root.querySelector("[data-conv-close]").addEventListener("click", function () { self.close(); });
    this.root.addEventListener("keydown", function (e) { if (e.key === "Escape") { self.close(); } });
    this.root.querySelector("[data-conv-report]").addEventListener("click", function () { self.report(); });
    this.root.querySelector("[data-conv-share]").addEventListener("click", function () { self.openShare(); });
    this.root.querySelector("[data-conv-share-cancel]").addEventListener("click", function () { self.shareForm.hidden = true; });
    this.shareForm.addEventListener("submit", function (e) { e.preventDefault(); self.share(); });
    if (options.note) { this.note(options.note); }
    this.header();
    if (this.id) { panels[this.id] = this; this.load(); } else { this.empty(); }
    this.form.text.focus();
  }
  Panel.prototype.note = function (text) { const n = this.root.querySelector("[data-conv-note]"); n.textContent = text; n.hidden = !text; };
  Panel.prototype.empty = function () { if (!this.log.children.length) { this.log.appendChild(el("li", "muted small conv-empty", this.t.empty)); } };
  Panel.prototype.header = function () {
    const c = this.conv;
    const title = this.root.querySelector("[data-conv-title]");
    const avatar = this.root.querySelector("[data-conv-avatar]");
    if (c) {
      title.textContent = c.side === "visitor" ? (c.booth.name || c.booth.number) : c.visitor.name + " · " + c.booth.number;
      avatar.textContent = c.side === "visitor" ? c.booth.number.slice(0, 2) : c.visitor.initials;
    } else if (this.booth) {
      title.textContent = this.booth.name;
      avatar.textContent = this.booth.number.slice(0, 2);
    }
    const side = c ? c.side : "visitor";
    const lead = c && c.lead_id;
    this.root.querySelector("[data-conv-share]").hidden = side !== "visitor" || !c || !!lead;
    this.root.querySelector("[data-conv-lead]").hidden = !lead;
    this.root.querySelector("[data-conv-report]").hidden = !c || side === "moderator";
    this.root.dataset.conversationId = c ? String(c.id) : "";
    if (side === "moderator") {
      this.form.hidden = true;
      this.note(this.t.readOnly);
      let block = this.root.querySelector("[data-conv-block]");
      if (!block) {  // block the visitor from conversations, or lift the block
        block = el("button", "button small");
        block.type = "button";
        block.dataset.convBlock = "";
        const self = this;
        block.addEventListener("click", function () {
          const conv = self.conv, blocked = conv.visitor_blocked;
          const call = blocked ? api("DELETE", "/api/moderation/conversation-blocks/" + conv.visitor.id)
            : api("POST", "/api/moderation/conversation-blocks", { user_id: conv.visitor.id });
          call.then(function () {
            conv.visitor_blocked = !blocked;
            self.result.textContent = blocked ? self.t.unblocked : self.t.blocked;
            self.header();
          }).catch(function (err) { self.result.textContent = err.message; });
        });
        this.root.querySelector("[data-conv-actions]").appendChild(block);
      }
      block.textContent = c.visitor_blocked ? this.t.unblock : this.t.block;
    }
  };
  Panel.prototype.append = function (m) {
    if (this.seen[m.id]) { this.update(m); return; }  // shown already: only its state may have changed
    this.seen[m.id] = true;
    const empty = this.log.querySelector(".conv-empty");
    if (empty) { empty.remove(); }
    const mine = this.conv ? m.side === this.conv.side : m.side === "visitor";
    const li = el("li", "conv-msg " + (mine ? "mine" : "theirs"));
    const meta = el("span", "conv-meta small");
    meta.appendChild(el("span", "conv-sender", mine ? this.t.you : m.sender.name + (m.side === "staff" ? " · " + this.t.staff : "")));
    const time = el("time", null, window.cloudexpo.when ? window.cloudexpo.when(m.created_at) : "");
    time.setAttribute("datetime", m.created_at);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    li.appendChild(meta);
    li.appendChild(el("p", "conv-text", m.text));
    li.dataset.messageId = String(m.id);
    this.log.appendChild(li);
    this.show(li, m);
    this.log.scrollTop = this.log.scrollHeight;
  };
  // a message a moderator removed: its sides read that it was, moderators still read it, marked so;
  // on a reported conversation moderators get a button on each message: Remove, or Restore on a removed one
  Panel.prototype.show = function (li, m) {
    const moderator = this.conv && this.conv.side === "moderator";
    const text = li.querySelector(".conv-text");
    li.classList.toggle("conv-removed", !!m.removed);
    if (m.removed && !moderator) { text.textContent = this.t.removed; } else if (!m.removed && m.text) { text.textContent = m.text; }
    const mark = li.querySelector(".conv-removed-note");
    if (m.removed && moderator && !mark) {  // above the moderator's button
      li.insertBefore(el("p", "conv-removed-note small", this.t.removedNote), li.querySelector("[data-conv-moderate]"));
    }
    if (!m.removed && mark) { mark.remove(); }
    if (moderator) { this.moderate(li, m); }
  };
  Panel.prototype.moderate = function (li, m) {
    let button = li.querySelector("[data-conv-moderate]");
    if (!button) {
      button = el("button", "button small conv-moderate");
      button.type = "button";
      button.dataset.convModerate = String(m.id);
      const self = this;
      button.addEventListener("click", function () {
        const removing = !li.classList.contains("conv-removed");
        if (removing && !window.confirm(self.t.removeConfirm)) { return; }
        button.disabled = true;
        const path = "/api/moderation/conversation-messages/" + m.id;
        (removing ? api("DELETE", path) : api("POST", path + "/restore", {})).then(function (d) {
          button.disabled = false;
          self.show(li, d.message);
          self.result.textContent = removing ? self.t.removedDone : self.t.restoredDone;
        }).catch(function (err) { button.disabled = false; self.result.textContent = err.message; });
      });
      li.appendChild(button);
    }
    button.textContent = m.removed ? this.t.restore : this.t.remove;
    button.classList.toggle("conv-remove", !m.removed);  // its red hover says "destructive": Restore is not
  };
  // a message shown already, in its new state (removed or restored by a moderator)
  Panel.prototype.update = function (m) {
    const li = this.log.querySelector('[data-message-id="' + m.id + '"]');
    if (li) { this.show(li, m); }
  };
  Panel.prototype.load = function () {
    const self = this;
    return api("GET", "/api/conversations/" + this.id).then(function (d) {
      self.conv = d.conversation;
      self.header();
      d.messages.forEach(function (m) { self.append(m); });
      self.empty();
      document.dispatchEvent(new CustomEvent("cloudexpo:conversation-open", { detail: { id: self.id, side: self.conv.side, conversation: self.conv } }));
      self.markRead();
    }).catch(function (err) { self.result.textContent = err.message; });
  };
  Panel.prototype.markRead = function () {
    if (!this.id || !this.conv || this.conv.side === "moderator" || document.visibilityState !== "visible") { return; }
    api("POST", "/api/conversations/" + this.id + "/read").then(function (d) { showUnread(d.unread); }).catch(function () {});
  };
  Panel.prototype.submit = function () {
    const text = this.form.text.value.trim();
    if (!text) { this.form.text.focus(); return; }
    const self = this;
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    this.result.textContent = "";
    const call = this.id ? api("POST", "/api/conversations/" + this.id + "/messages", { text: text })
      : api("POST", "/api/booths/" + this.booth.id + "/conversations", { text: text });
    call.then(function (d) {
      if (d.conversation) {
        self.conv = d.conversation;
        if (!self.id) { self.id = d.conversation.id; panels[self.id] = self; self.load(); }
        self.header();
      }
      self.append(d.message);
      self.form.text.value = "";
    }).catch(function (err) {
      self.result.textContent = err.message;
      if (err.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); }
    }).finally(function () { button.disabled = false; self.form.text.focus(); });
  };
  Panel.prototype.report = function () {
    const reason = window.prompt(this.t.reportPrompt, "");
    if (reason === null) { return; }
    const self = this;
    api("POST", "/api/conversations/" + this.id + "/report", { reason: reason })
      .then(function () { self.result.textContent = self.t.reported; }).catch(function (err) { self.result.textContent = err.message; });
  };
  Panel.prototype.openShare = function () {
    const form = this.shareForm;
    form.hidden = false;
    api("GET", "/api/cards/prefill").then(function (d) {
      ["name", "organisation", "email", "phone"].forEach(function (k) { if (!form[k].value) { form[k].value = d.values[k] || ""; } });
    }).catch(function () {});
    form.name.focus();
  };
  Panel.prototype.share = function () {
    const form = this.shareForm;
    const data = { consent: form.consent.checked };
    ["name", "organisation", "email", "phone"].forEach(function (k) { data[k] = form[k].value; });
    const self = this;
    form.querySelectorAll("[aria-invalid]").forEach(function (x) { x.removeAttribute("aria-invalid"); });
    api("POST", "/api/conversations/" + this.id + "/card", data).then(function (d) {
      form.hidden = true;
      self.lead(d.lead_id);
    }).catch(function (err) {
      self.result.textContent = err.message;
      const field = err.data && err.data.field && form[err.data.field];
      if (field && field.focus) { field.setAttribute("aria-invalid", "true"); field.focus(); }
    });
  };
  Panel.prototype.lead = function (leadId) {
    if (this.conv) { this.conv.lead_id = leadId; }
    this.header();
    this.note(this.conv && this.conv.side === "staff" ? this.t.leadStaff : this.t.lead);
  };
  Panel.prototype.close = function () {
    if (this.id) { delete panels[this.id]; }
    this.host.innerHTML = "";
    if (this.onClose) { this.onClose(); }
  };

  // --- a booth page: who is here, and the visitor's conversation with the booth
  function renderPresence(boothId, staff) {
    document.querySelectorAll('[data-booth-talk][data-booth-id="' + boothId + '"]').forEach(function (box) {
      const list = box.querySelector("[data-talk-list]");
      list.innerHTML = "";
      staff.forEach(function (p) {
        const li = el("li", "staff-person");
        li.appendChild(el("span", "avatar", p.initials)).setAttribute("aria-hidden", "true");
        const who = el("span", "staff-who");
        who.appendChild(el("strong", null, p.name));
        if (p.role) { who.appendChild(el("small", "muted", p.role)); }
        li.appendChild(who);
        list.appendChild(li);
      });
      box.querySelector("[data-talk-nobody]").hidden = staff.length > 0;
      box.querySelector("[data-talk-here]").hidden = staff.length === 0;
      box.dataset.staffed = staff.length ? "1" : "0";
      const start = box.querySelector("[data-talk-start]");
      if (start && !box.dataset.conversationId) { start.textContent = staff.length ? box.dataset.labelLive : box.dataset.labelAway; }
    });
  }
  function boothTalk(box) {
    const booth = Number(box.dataset.boothId);
    const refresh = function () {
      api("GET", "/api/booths/" + booth + "/presence").then(function (d) {
        renderPresence(booth, d.staff);
        const hours = box.querySelector("[data-talk-hours]");
        if (d.hours) { box.querySelector("[data-talk-hours-text]").textContent = d.hours; hours.hidden = false; }
      }).catch(function () {});
    };
    refresh();
    setInterval(refresh, 30000);  // also for visitors without a socket, and staff whose page vanished
    watched.push(booth);
    send({ type: "watch_booth", booth: booth });
    const start = box.querySelector("[data-talk-start]");
    if (!start) { return; }
    let existing = null;
    api("GET", "/api/conversations?booth=" + booth).then(function (d) {
      existing = d.conversations[0] || null;
      if (existing) { box.dataset.conversationId = String(existing.id); start.textContent = box.dataset.labelContinue; }
    }).catch(function () {});
    start.addEventListener("click", function () {
      const host = box.querySelector("[data-talk-panel]");
      start.hidden = true;
      const away = box.dataset.staffed !== "1";
      new Panel(host, {
        id: existing && existing.id, conversation: existing, booth: { id: booth, name: box.dataset.boothName, number: box.dataset.boothNumber },
        note: away ? document.getElementById("conversation-panel").dataset.left : "",
        onClose: function () { start.hidden = false; start.focus(); document.body.classList.remove("conv-fullscreen"); },
      });
      document.body.classList.add("conv-fullscreen");
    });
  }

  // --- the inbox: conversations with unread counts; the open one beside them (a full-screen panel on phones)
  function inbox(box) {
    const list = box.querySelector("[data-inbox-list]");
    const open = box.querySelector("[data-inbox-open]");
    const removedLabel = document.getElementById("conversation-panel").dataset.removed;  // the page includes the panel
    let current = null;
    const row = function (c) {
      const li = el("li");
      const a = el("a");
      a.href = c.url;
      a.dataset.conversationLink = String(c.id);
      if (current && current.id === c.id) { a.setAttribute("aria-current", "true"); }
      a.appendChild(el("span", "avatar", c.side === "staff" ? c.visitor.initials : c.booth.number.slice(0, 2))).setAttribute("aria-hidden", "true");
      const who = el("span", "inbox-who");
      who.appendChild(el("strong", null, c.side === "staff" ? c.visitor.name : c.booth.name || c.booth.number));
      who.appendChild(el("small", "muted", c.booth.number + (c.left_message ? " · " + box.dataset.leftLabel : "")));
      const last = c.last_message;
      who.appendChild(el("small", "inbox-last", last ? (last.removed && c.side !== "moderator" ? removedLabel : last.text) : ""));
      a.appendChild(who);
      if (c.unread) {
        const badge = el("span", "unread-count", String(c.unread));
        badge.appendChild(el("span", "visually-hidden", " " + box.dataset.unreadLabel));
        a.appendChild(badge);
      }
      li.appendChild(a);
      return li;
    };
    const reload = function () {
      return api("GET", "/api/conversations").then(function (d) {
        list.innerHTML = "";
        if (!d.conversations.length) { list.appendChild(el("li", "muted", box.dataset.empty)); }
        d.conversations.forEach(function (c) { list.appendChild(row(c)); });
        showUnread(d.unread);
      }).catch(function () {});
    };
    const show = function (id, push) {
      if (push) { history.pushState({ c: id }, "", "/conversations/" + id); }
      box.classList.add("has-open");
      document.body.classList.add("conv-fullscreen");
      current = new Panel(open, { id: id, onClose: function () {
        box.classList.remove("has-open");
        document.body.classList.remove("conv-fullscreen");
        history.pushState({}, "", "/conversations");
        current = null;
        const link = list.querySelector('[data-conversation-link="' + id + '"]');
        if (link) { link.focus(); }
      } });
      list.querySelectorAll("[data-conversation-link]").forEach(function (a) {
        if (Number(a.dataset.conversationLink) === id) { a.setAttribute("aria-current", "true"); } else { a.removeAttribute("aria-current"); }
      });
      setTimeout(reload, 300);  // its unread count is gone once read
    };
    list.addEventListener("click", function (e) {
      const a = e.target.closest && e.target.closest("[data-conversation-link]");
      if (!a || e.metaKey || e.ctrlKey) { return; }
      e.preventDefault();
      show(Number(a.dataset.conversationLink), true);
    });
    window.addEventListener("popstate", function () {
      const m = location.pathname.match(/^\/conversations\/(\d+)/);
      if (m) { show(Number(m[1]), false); } else if (current) { current.close(); }
    });
    document.addEventListener("cloudexpo:ws", function (e) {
      const t = e.detail.type;
      if (t === "conversation_message" || t === "conversation_read" || t === "conversation_lead" ||
          t === "conversation_message_removed" || t === "conversation_message_restored") { reload(); }
    });
    if (box.dataset.opened) { show(Number(box.dataset.opened), false); }
  }

  // --- live events
  document.addEventListener("cloudexpo:ws", function (e) {
    const d = e.detail;
    if (d.type === "presence") { renderPresence(d.booth_id, d.staff || []); return; }
    if (d.type === "conversation_read" && typeof d.unread === "number") { showUnread(d.unread); return; }
    if (d.type === "conversation_lead") { const p = panels[d.conversation_id]; if (p) { p.lead(d.lead_id); } return; }
    if (d.type === "conversation_message_removed" || d.type === "conversation_message_restored") {
      const p = panels[d.conversation_id];
      if (p) { p.update(d.message || { id: d.message_id, removed: true }); }
      if (typeof d.unread === "number") { showUnread(d.unread); }
      return;
    }
    if (d.type !== "conversation_message") { return; }
    const c = d.conversation;
    const fromOther = d.message.side !== c.side;
    const panel = panels[c.id];
    if (panel) {
      panel.append(d.message);
      if (fromOther) { panel.markRead(); }
    }
    if (typeof d.unread === "number") { showUnread(d.unread); }
    if (fromOther) {
      tone();
      if (!panel || document.visibilityState !== "visible") { notice(d); }
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { Object.keys(panels).forEach(function (id) { panels[id].markRead(); }); }
  });

  ready(function () {
    soundToggles();
    presenceToggles();
    document.querySelectorAll("[data-booth-talk]").forEach(boothTalk);
    document.querySelectorAll("[data-conversation-inbox]").forEach(inbox);
    if (document.querySelector('[data-nav-count="conversations"]') && !document.querySelector("[data-conversation-inbox]")) {
      api("GET", "/api/conversations").then(function (d) { showUnread(d.unread); }).catch(function () {});
    }
  });
})();

// Q&A and polls beside a broadcast (live/audience_panel.html) and the tabs of the right column
// (live/side_tabs.html): lists from the JSON API, live changes from /ws (the page's socket, shared
// with chat.js and watch.js), asking, upvoting and voting, and the presenters' and moderators' tools.
// Text is always set as textContent.
(function () {
  "use strict";
  window.cloudexpo = window.cloudexpo || {};
  const api = function (method, url, body) { return window.cloudexpo.api(method, url, body); };
  const make = function (tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null) el.textContent = text;
    return el;
  };
  const button = function (label, cls, onClick) {
    const b = make("button", cls || "chat-tool", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  };

  // --- tabs: arrow keys move between them, as the ARIA tabs pattern says --------------------
  function tabs(root) {
    const list = root.querySelector('[role="tablist"]');
    if (!list) return;
    const all = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
    const select = function (tab, focus) {
      all.forEach(function (t) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        const panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) panel.hidden = !on;
      });
      if (focus) tab.focus();
    };
    all.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (ev) {
        let next = null;
        if (ev.key === "ArrowRight") next = all[(i + 1) % all.length];
        else if (ev.key === "ArrowLeft") next = all[(i - 1 + all.length) % all.length];
        else if (ev.key === "Home") next = all[0];
        else if (ev.key === "End") next = all[all.length - 1];
        if (next) { ev.preventDefault(); select(next, true); }
      });
    });
    const first = all.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || all[0];
    select(first, false);
    // a link to #qa or #polls opens that tab
    const named = { "#qa": "tab-qa", "#polls": "tab-polls" }[location.hash];
    const linked = named && all.filter(function (t) { return t.id.indexOf(named) === 0; })[0];
    if (linked) select(linked, false);
  }

  // --- one slot's Q&A and polls --------------------------------------------------------------
  function panel(root, strings) {
    const slot = Number(root.dataset.slot);
    const runs = root.dataset.runs === "1";
    const moderator = root.dataset.moderator === "1";
    const signedIn = root.dataset.signedIn === "1";
    const $ = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
    const side = root.closest('[data-role="side-tabs"]') || document;
    const questions = new Map(), polls = new Map();
    const awaiting = new Set();  // this visitor's questions waiting for a moderator's approval
    const voted = new Set(), mine = new Map();

    const showError = function (role, text, ok) {  // ok: good news, not an error
      const el = $(role);
      if (!el) return;
      el.textContent = text || ""; el.hidden = !text; el.classList.toggle("ok", !!ok);
      if (text) setTimeout(function () { el.hidden = true; }, 6000);
    };
    const act = async function (role, method, url, body) {
      try { return await api(method, url, body); } catch (e) { showError(role, e.message); return null; }
    };

    // Questions ------------------------------------------------------------------------------
    const order = function (a, b) { return (b.pinned - a.pinned) || (b.votes - a.votes) || (a.id - b.id); };
    const shown = function (q) { return runs || (q.approved !== false && !q.dismissed); };
    function questionItem(q) {
      const li = make("li", "qa-item");
      li.dataset.id = q.id;
      if (q.pinned) li.classList.add("pinned");
      if (q.approved === false) li.classList.add("waiting");
      if (q.dismissed) li.classList.add("dismissed");
      const up = button("", "qa-vote", async function () {
        if (!signedIn) { showError("qa-error", strings.signIn); return; }
        const res = await act("qa-error", "POST", "/api/questions/" + q.id + "/vote");
        if (res) { if (res.voted) voted.add(q.id); else voted.delete(q.id); upsert(Object.assign({}, questions.get(q.id) || {}, { votes: res.votes, id: q.id })); }
      });
      // read as "Upvote 3", seen as "▲ 3"; pressed when this visitor's vote is in
      const arrow = make("span", null, "▲ "); arrow.setAttribute("aria-hidden", "true");
      up.append(make("span", "visually-hidden", strings.upvote + " "), arrow, String(q.votes));
      up.setAttribute("aria-pressed", String(voted.has(q.id)));
      up.disabled = q.approved === false || !!q.dismissed;
      const body = make("div", "qa-body");
      const meta = make("p", "qa-meta small");
      meta.appendChild(make("strong", "chat-author", q.author || strings.anonymous));
      if (runs && q.anonymous) meta.appendChild(make("span", "muted", " (" + strings.anonymous + ")"));
      const badges = [];
      if (q.pinned) badges.push([strings.pinned, "soon"]);
      if (q.answered) badges.push([q.answered_live && !q.answer ? strings.answeredLive : strings.answered, "ok"]);
      if (q.approved === false) badges.push([strings.waiting, "warn"]);
      if (q.dismissed) badges.push([strings.dismissed, ""]);
      badges.forEach(function (b) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(make("span", "badge " + b[1], b[0])); });
      body.appendChild(meta);
      body.appendChild(make("p", "qa-text", q.text));
      if (q.answer) body.appendChild(make("p", "qa-answer", q.answer));
      if (runs) body.appendChild(tools(q));
      li.appendChild(up); li.appendChild(body);
      return li;
    }
    function tools(q) {
      const box = make("div", "qa-tools");
      const patch = function (change) { return act("qa-error", "PATCH", "/api/questions/" + q.id, change).then(function (res) { if (res) upsert(res); }); };
      if (q.approved === false) box.appendChild(button(strings.approve, "chat-tool", function () { patch({ approved: true }); }));
      box.appendChild(button(q.pinned ? strings.unpin : strings.pin, "chat-tool", function () { patch({ pinned: !q.pinned }); }));
      box.appendChild(button(strings.answer, "chat-tool", function () { answerForm(box, q, patch); }));
      const live = button(strings.markLive, "chat-tool", function () { patch({ answered_live: !q.answered_live }); });
      live.setAttribute("aria-pressed", String(!!q.answered_live));
      box.appendChild(live);
      box.appendChild(button(q.dismissed ? strings.restore : strings.dismiss, "chat-tool", function () { patch({ dismissed: !q.dismissed }); }));
      if (moderator) box.appendChild(button(strings.delete, "chat-tool", function () {
        if (window.confirm(strings.confirmDelete)) act("qa-error", "DELETE", "/api/questions/" + q.id).then(function () { remove(q.id); });
      }));
      return box;
    }
    function answerForm(box, q, patch) {
      if (box.querySelector("form")) return;
      const form = make("form", "qa-answer-form");
      const id = "qa-answer-" + q.id;
      const label = make("label", "small", strings.answerLabel); label.htmlFor = id;
      const area = make("textarea"); area.id = id; area.rows = 2; area.maxLength = 1000; area.value = q.answer || "";
      const save = make("button", "button small primary", strings.save); save.type = "submit";
      const cancel = button(strings.cancel, "button small", function () { form.remove(); renderQuestions(); });
      form.append(label, area, save, cancel);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        form.remove();  // the list moves again, with the answer in it
        patch({ answer: area.value });
      });
      box.appendChild(form);
      area.focus();
    }
    function renderQuestions() {
      const list = $("qa-list");
      const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.closest("li") : null;
      const focusId = focused ? focused.dataset.id : null;
      const editing = list.querySelector(".qa-answer-form");
      if (editing) return;  // a presenter typing an answer keeps the list still; it catches up on save
      const items = Array.from(questions.values()).filter(shown).sort(order);
      list.textContent = "";
      items.forEach(function (q) { list.appendChild(questionItem(q)); });
      $("qa-empty").hidden = items.length > 0;
      const count = side.querySelector('[data-role="qa-count"]');
      if (count) count.textContent = items.length ? "(" + items.length + ")" : "";
      if (focusId) { const again = list.querySelector('li[data-id="' + focusId + '"] .qa-vote'); if (again) again.focus(); }
    }
    function upsert(q) {
      const had = questions.get(q.id) || {};
      // the audience's copy of an event never takes away what the staff copy told (the author of an anonymous question)
      questions.set(q.id, Object.assign({}, had, q, runs && had.author && !q.author ? { author: had.author } : {}));
      renderQuestions();
    }
    function remove(id) { questions.delete(id); renderQuestions(); }

    // Polls ----------------------------------------------------------------------------------
    function pollCard(p) {
      const card = make("article", "poll poll-" + p.state);
      card.dataset.id = p.id;
      const headId = "poll-h-" + p.id;
      const head = make("h3", "poll-question", p.question); head.id = headId;
      card.setAttribute("aria-labelledby", headId);
      const stateName = { draft: strings.draft, open: strings.openState, closed: strings.closed }[p.state];
      const meta = make("p", "small muted");
      meta.appendChild(make("span", "badge" + (p.state === "open" ? " live" : ""), stateName));
      meta.appendChild(document.createTextNode(" " + p.voters + " " + strings.voters));
      card.append(head, meta);
      const chosen = mine.get(p.id) || [];
      if (p.state === "open" && !runs) card.appendChild(ballot(p, chosen));
      if (p.state !== "draft") card.appendChild(results(p, chosen));
      if (runs) {
        const row = make("div", "button-row");
        if (p.state === "draft") row.appendChild(button(strings.open, "button small primary", function () { act("poll-error", "POST", "/api/polls/" + p.id + "/open").then(function (r) { if (r) upsertPoll(r); }); }));
        if (p.state === "open") row.appendChild(button(strings.close, "button small", function () { act("poll-error", "POST", "/api/polls/" + p.id + "/close").then(function (r) { if (r) upsertPoll(r); }); }));
        row.appendChild(button(strings.delete, "chat-tool", function () {
          if (window.confirm(strings.confirmDelete)) act("poll-error", "DELETE", "/api/polls/" + p.id).then(function () { polls.delete(p.id); renderPolls(); });
        }));
        card.appendChild(row);
      }
      return card;
    }
    function ballot(p, chosen) {
      const form = make("form", "poll-ballot");
      const set = make("fieldset");
      set.appendChild(make("legend", "visually-hidden", p.question));
      p.options.forEach(function (o, i) {
        const label = make("label", "check-row");
        const input = make("input"); input.type = p.multiple ? "checkbox" : "radio"; input.name = "poll-" + p.id; input.value = String(i);
        input.checked = chosen.indexOf(i) >= 0;
        label.append(input, make("span", null, " " + o.text));
        set.appendChild(label);
      });
      const send = make("button", "button small primary", chosen.length ? strings.changeVote : strings.vote); send.type = "submit";
      form.append(set, send);
      form.addEventListener("submit", async function (ev) {
        ev.preventDefault();
        if (!signedIn) { showError("poll-error", strings.signIn); return; }
        const picks = Array.from(form.querySelectorAll("input:checked")).map(function (i) { return Number(i.value); });
        if (!picks.length) { showError("poll-error", p.multiple ? strings.pickSome : strings.pickOne); return; }
        const res = await act("poll-error", "POST", "/api/polls/" + p.id + "/vote", { choices: picks });
        if (res) { mine.set(p.id, res.mine || picks); upsertPoll(res); }
      });
      return form;
    }
    function results(p, chosen) {
      const total = p.options.reduce(function (s, o) { return s + o.votes; }, 0);
      const list = make("ul", "poll-results");
      list.setAttribute("aria-label", strings.results);
      p.options.forEach(function (o, i) {
        const pct = total ? Math.round(o.votes * 100 / total) : 0;
        const li = make("li", chosen.indexOf(i) >= 0 ? "mine" : "");
        const label = make("span", "poll-option", o.text + (chosen.indexOf(i) >= 0 ? " ✓" : ""));
        const figure = make("span", "poll-figure", pct + "% (" + o.votes + ")");
        const bar = make("span", "poll-bar"); bar.style.width = pct + "%";
        bar.setAttribute("aria-hidden", "true");
        li.append(label, figure, bar);
        list.appendChild(li);
      });
      return list;
    }
    function renderPolls(figuresOnly) {
      const list = $("poll-list");
      if (figuresOnly && document.activeElement && document.activeElement.closest && document.activeElement.closest("form.poll-ballot")) {
        // a visitor choosing keeps their ballot; only the figures change
        polls.forEach(function (p) {
          const card = list.querySelector('article[data-id="' + p.id + '"]');
          const old = card && card.querySelector(".poll-results");
          if (old) old.replaceWith(results(p, mine.get(p.id) || []));
        });
        return;
      }
      const items = Array.from(polls.values()).sort(function (a, b) {
        const rank = { open: 0, draft: 1, closed: 2 };
        return (rank[a.state] - rank[b.state]) || (b.id - a.id);
      });
      list.textContent = "";
      items.forEach(function (p) { list.appendChild(pollCard(p)); });
      $("poll-empty").hidden = items.length > 0;
      const count = side.querySelector('[data-role="poll-count"]');
      const open = items.filter(function (p) { return p.state === "open"; }).length;
      if (count) count.textContent = open ? "(" + open + ")" : "";
    }
    let announceTimer = null;
    function upsertPoll(p) {
      const before = polls.get(p.id);
      polls.set(p.id, Object.assign({}, before || {}, p));
      if (p.mine) mine.set(p.id, p.mine);
      // only new figures while a visitor is on a ballot: their choice and focus stay
      renderPolls(!!before && before.state === p.state && !p.mine);
      // screen readers hear new results at most every few seconds, not at every vote
      clearTimeout(announceTimer);
      announceTimer = setTimeout(function () {
        const total = p.options.map(function (o) { return o.text + " " + o.votes; }).join(", ");
        $("poll-live").textContent = strings.newResults + " " + p.question + ": " + total;
      }, 3000);
    }

    // Loading and live changes -----------------------------------------------------------------
    async function load() {
      try {
        const q = await api("GET", "/api/slots/" + slot + "/questions");
        questions.clear(); voted.clear();
        q.questions.forEach(function (item) { questions.set(item.id, item); if (item.voted) voted.add(item.id); });
        renderQuestions();
        const p = await api("GET", "/api/slots/" + slot + "/polls");
        polls.clear();
        p.polls.forEach(function (item) { polls.set(item.id, item); mine.set(item.id, item.mine || []); });
        renderPolls();
      } catch (e) { showError("qa-error", e.message); }
    }
    let opened = false;
    document.addEventListener("cloudexpo:ws", function (ev) {
      const m = ev.detail;
      if (m.type === "open") { if (opened) load(); opened = true; return; }  // back after a drop: catch up
      if (m.slot !== slot) return;
      if (m.type === "question_staff" && runs) upsert(m.question);
      else if (m.type === "question" && !runs) {
        if (awaiting.delete(m.question.id)) showError("qa-error", strings.approvedMine, true);  // the asker hears of it at once
        upsert(m.question);
      }
      else if (m.type === "question_removed" && !runs) remove(m.id);
      else if ((m.type === "poll" && !runs) || (m.type === "poll_staff" && runs)) upsertPoll(m.poll);
      else if (m.type === "poll_removed") { polls.delete(m.id); renderPolls(); }
      else if (m.type === "qa_settings" && runs) { const box = $("qa-moderated"); if (box) box.checked = m.moderated; }
      else if (m.type === "muted" && m.user_id === window.cloudexpo.userId) setMuted(true);
      else if (m.type === "unmuted" && m.user_id === window.cloudexpo.userId) setMuted(false);
    });
    const setMuted = function (on) {
      const form = $("qa-form");
      if (form) form.querySelectorAll("textarea, button").forEach(function (el) { el.disabled = on; });
      if (on) showError("qa-error", strings.muted);
    };

    const form = $("qa-form");
    if (form) form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const area = form.querySelector("textarea");
      const text = area.value.trim();
      if (!text) return;
      const res = await act("qa-error", "POST", "/api/slots/" + slot + "/questions", { text: text, anonymous: form.querySelector("input[name=anonymous]").checked });
      if (res) {
        area.value = "";
        if (runs || res.approved) upsert(res);
        else { awaiting.add(res.id); showError("qa-error", strings.waiting); }
      }
    });
    const moderated = $("qa-moderated");
    if (moderated) moderated.addEventListener("change", function () {
      act("qa-error", "PUT", "/api/slots/" + slot + "/qa", { moderated: moderated.checked });
    });
    const pollForm = $("poll-form");
    if (pollForm) pollForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const open = !ev.submitter || ev.submitter.value === "open";
      const options = pollForm.elements.options.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      const res = await act("poll-error", "POST", "/api/slots/" + slot + "/polls", {
        question: pollForm.elements.question.value, options: options, multiple: pollForm.elements.multiple.checked, open: open,
      });
      if (res) { pollForm.reset(); upsertPoll(res); }
    });
    load();
    if (root.dataset.ownSocket === "1" && window.cloudexpo.openSocket) window.cloudexpo.openSocket([slot]);
  }

  function init() {
    const stringsEl = document.getElementById("audience-strings");
    const strings = stringsEl ? JSON.parse(stringsEl.textContent) : {};
    const live = document.getElementById("live-data");
    if (live) { try { window.cloudexpo.userId = JSON.parse(live.textContent).user_id; } catch (e) { /* no user */ } }
    document.querySelectorAll('[data-role="side-tabs"]').forEach(tabs);
    document.querySelectorAll('[data-role="audience"]').forEach(function (root) { panel(root, strings); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

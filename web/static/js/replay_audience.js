// The replay's questions and polls in sync with the video (live/replay_audience.html), like the chat in
// replay.js: /api/replays/{id}/audience places each question where it was asked (at) and answered
// (answer_at), and each poll where it opened (at) and closed (closed_at_s), in seconds of the replay.
(function () {
  "use strict";
  const box = document.querySelector('[data-role="replay-audience"]');
  const video = document.getElementById("replay-video");
  if (!box || !video) return;
  const strings = JSON.parse((document.getElementById("replay-audience-strings") || {}).textContent || "{}");
  const $ = function (role) { return box.querySelector('[data-role="' + role + '"]'); };
  const make = function (tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null) el.textContent = text;
    return el;
  };
  let questions = [], polls = [], last = null;

  function question(q, now) {
    const li = make("li", "qa-item");
    li.dataset.id = q.id;
    const votes = make("span", "qa-vote qa-votes", "▲ " + q.votes);
    votes.setAttribute("title", q.votes + " " + strings.votes);
    li.appendChild(votes);
    const body = make("div", "qa-body");
    const meta = make("p", "qa-meta small");
    meta.appendChild(make("strong", "chat-author", q.author || strings.anonymous));
    const answered = q.answer_at !== null && q.answer_at <= now;
    if (answered) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(make("span", "badge ok", q.answer ? strings.answered : strings.answeredLive)); }
    body.append(meta, make("p", "qa-text", q.text));
    if (answered && q.answer) body.appendChild(make("p", "qa-answer", q.answer));
    li.appendChild(body);
    return li;
  }
  function poll(p, now) {
    const card = make("article", "poll");
    card.dataset.id = p.id;
    card.appendChild(make("h4", "poll-question", p.question));
    const closed = p.closed_at_s !== null && p.closed_at_s <= now;
    if (!closed) {
      const list = make("ul", "poll-results");
      p.options.forEach(function (o) { list.appendChild(make("li", null, o.text)); });
      card.append(list, make("p", "small muted", strings.voting));
      return card;
    }
    const total = p.options.reduce(function (s, o) { return s + o.votes; }, 0);
    const list = make("ul", "poll-results");
    list.setAttribute("aria-label", strings.results);
    p.options.forEach(function (o) {
      const pct = total ? Math.round(o.votes * 100 / total) : 0;
      const li = make("li");
      const bar = make("span", "poll-bar"); bar.style.width = pct + "%"; bar.setAttribute("aria-hidden", "true");
      li.append(make("span", "poll-option", o.text), make("span", "poll-figure", pct + "% (" + o.votes + ")"), bar);
      list.appendChild(li);
    });
    card.append(make("p", "small muted", strings.closed + " · " + p.voters + " " + strings.voters), list);
    return card;
  }
  function render() {
    const now = video.currentTime || 0;
    const key = questions.filter(function (q) { return q.at <= now; }).length + ":" +
      questions.filter(function (q) { return q.answer_at !== null && q.answer_at <= now; }).length + ":" +
      polls.filter(function (p) { return p.at <= now; }).length + ":" +
      polls.filter(function (p) { return p.closed_at_s !== null && p.closed_at_s <= now; }).length;
    if (key === last) return;  // nothing new at this moment: the DOM stays as it is
    last = key;
    const qList = $("replay-questions"), pList = $("replay-polls");
    qList.textContent = ""; pList.textContent = "";
    const asked = questions.filter(function (q) { return q.at <= now; });
    asked.sort(function (a, b) { return (b.votes - a.votes) || (a.at - b.at); }).forEach(function (q) { qList.appendChild(question(q, now)); });
    polls.filter(function (p) { return p.at <= now; }).forEach(function (p) { pList.appendChild(poll(p, now)); });
    $("replay-questions-later").hidden = !(questions.length && !asked.length);
    $("replay-polls-later").hidden = !(polls.length && !pList.children.length);
  }
  async function load() {
    try {
      const body = await window.cloudexpo.api("GET", "/api/replays/" + box.dataset.slot + "/audience");
      questions = body.questions || []; polls = body.polls || [];
    } catch (e) { return; }
    box.hidden = !(questions.length || polls.length);
    last = null;
    render();
  }
  video.addEventListener("timeupdate", render);
  video.addEventListener("seeked", function () { last = null; render(); });
  video.addEventListener("loadedmetadata", function () { if (!questions.length && !polls.length) load(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load); else load();
})();

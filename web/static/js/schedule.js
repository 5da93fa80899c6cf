// The moderators' day timeline: the release zone's stages side by side in the exhibition's time zone.
// Drag a slot to move it (in time or to another stage), drag its lower edge to extend or shorten it;
// Enter on a slot (or "Add a slot") opens the same changes as a form. Every change goes through the API,
// whose overlap check names the clash; the answer's message is shown as it comes (in the page's language).
(function () {
  "use strict";
  const root = document.querySelector('[data-role="schedule"]');
  if (!root || !window.cloudexpo || !window.cloudexpo.api) return;
  const cx = window.cloudexpo;
  const PX = 1.2;        // pixels per minute: an hour is 72 px
  const SNAP = 5;        // minutes
  const THREE_LINES = 64; // pixels a slot's box needs to show its title, time and booth on lines of their own
  const TWO_LINES = 35;   // ... and its title above its time and booth
  const MINUTE = 60000;
  const $ = function (sel, el) { return (el || root).querySelector(sel); };
  let data = JSON.parse(document.getElementById("schedule-data").textContent);
  const S = JSON.parse(document.getElementById("schedule-strings").textContent);
  const tl = $('[data-role="timeline"]');
  const errorEl = $('[data-role="error"]');
  const statusEl = $('[data-role="status"]');
  const dialog = $('[data-role="dialog"]');
  const form = $('[data-role="slot-form"]');
  const dialogError = $('[data-role="dialog-error"]');
  let suppressClick = false;
  let editing = null;  // the slot the dialog changes, or null when it adds one

  const el = function (tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const fill = function (template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  };
  const dayStart = function () { return new Date(data.day_start).getTime(); };
  const dayMinutes = function () { return (new Date(data.day_end) - new Date(data.day_start)) / MINUTE; };
  const minutesOf = function (iso) { return (new Date(iso).getTime() - dayStart()) / MINUTE; };
  const isoAt = function (ms) { return new Date(ms).toISOString(); };

  function say(message, kind) {
    const target = kind === "error" ? errorEl : statusEl;
    (kind === "error" ? statusEl : errorEl).hidden = true;
    target.textContent = message;
    target.hidden = !message;
  }

  function clashed(err) {
    const clash = err && err.data && err.data.clash;
    root.querySelectorAll(".tl-clash").forEach(function (e) { e.classList.remove("tl-clash"); });
    if (!clash) return;
    const box = tl.querySelector('[data-slot="' + clash.id + '"]');
    if (box) { box.classList.add("tl-clash"); box.scrollIntoView({ block: "nearest", inline: "nearest" }); }
  }

  async function refresh() {
    try {
      data = await cx.api("GET", "/api/schedule?day=" + encodeURIComponent(data.day));
    } catch (e) { say(e.message, "error"); }
    render();
    renderRequests();
  }

  // --- the grid ------------------------------------------------------------------------------------

  function columnAt(x) {
    let found = null;
    tl.querySelectorAll(".tl-col").forEach(function (col) {
      const r = col.getBoundingClientRect();
      if (x >= r.left && x < r.right) found = col;
    });
    return found;
  }

  // In a slot's box the day is the page's: its times alone, unless it runs over from or into another day.
  function boxTime(start, end) {
    const a = cx.localParts(new Date(start)), b = cx.localParts(new Date(end));
    return a.day === data.day && b.day === data.day ? a.hm + "–" + b.hm : cx.when(start, end);
  }

  function stateLabel(s) {
    if (!s.approved) return S.pending;
    return S[s.state] || s.state;
  }

  function slotBox(s) {
    const total = dayMinutes();
    const top = Math.max(0, minutesOf(s.starts_at));
    const bottom = Math.min(total, minutesOf(s.ends_at));
    // A box too low for three lines (title, time, booth) puts the time and booth on one line under the title;
    // one too low for two shows the title alone (the rest is on hover and in its accessible name)
    const height = Math.max(22, (bottom - top) * PX);
    const fit = height < TWO_LINES ? " short tiny" : height < THREE_LINES ? " short" : "";
    const box = el("div", "tl-slot state-" + s.state + (s.approved ? "" : " pending") + fit);
    box.dataset.slot = s.id;
    box.style.top = (top * PX) + "px";
    box.style.height = height + "px";
    const main = el("button", "tl-slot-main");
    main.type = "button";
    const booth = s.booth ? s.booth.label : "";
    main.title = [s.title, booth, cx.when(s.starts_at, s.ends_at) + " " + data.zone, cx.viewerWhen(s.starts_at, s.ends_at)].filter(Boolean).join("\n");
    const head = el("span", "tl-slot-head");
    if (!s.approved || s.state === "live") head.appendChild(el("span", "badge" + (s.state === "live" ? " live" : " soon"), stateLabel(s)));
    head.appendChild(el("strong", "", s.title));
    main.appendChild(head);
    main.appendChild(el("span", "tl-time", boxTime(s.starts_at, s.ends_at)));
    if (booth) main.appendChild(el("span", "tl-booth", booth));
    // The name is what the box shows plus what it cannot (an aria-label would not match the visible text)
    main.appendChild(el("span", "visually-hidden", " " + fill(S.slot_hint, { when: s.when, state: stateLabel(s) })));
    main.addEventListener("click", function () {
      if (suppressClick) { suppressClick = false; return; }
      openEdit(s);
    });
    box.appendChild(main);
    if (s.open) {
      const grip = el("span", "tl-resize");
      grip.setAttribute("aria-hidden", "true");
      box.appendChild(grip);
      grip.addEventListener("pointerdown", function (ev) { drag(ev, s, box, "resize"); });
      if (s.state !== "live") main.addEventListener("pointerdown", function (ev) { drag(ev, s, box, "move"); });
    }
    return box;
  }

  function render() {
    tl.textContent = "";
    if (!data.stages.length) return;
    const total = dayMinutes();
    const grid = el("div", "tl-grid");
    grid.style.gridTemplateColumns = "52px repeat(" + data.stages.length + ", minmax(130px, 1fr))";  // two stages side by side on a phone
    grid.appendChild(el("div", "tl-corner"));
    data.stages.forEach(function (st) {
      // The name in a box of its own: up to two lines, the whole name on hover (a long one is not cut at both ends)
      const head = el("div", "tl-stage");
      head.title = st.name;
      head.appendChild(el("span", "tl-stage-name", st.name));
      grid.appendChild(head);
    });
    const hours = el("div", "tl-hours");
    hours.setAttribute("aria-hidden", "true");
    hours.style.height = (total * PX) + "px";
    for (let m = 0; m < total; m += 60) {
      const label = el("span", "", cx.localParts(new Date(dayStart() + m * MINUTE)).hm);
      label.style.top = (m * PX) + "px";
      hours.appendChild(label);
    }
    grid.appendChild(hours);
    data.stages.forEach(function (st) {
      const col = el("div", "tl-col");
      col.dataset.stage = st.slug;
      col.setAttribute("role", "group");
      col.setAttribute("aria-label", st.name);
      col.style.height = (total * PX) + "px";
      col.style.backgroundSize = "100% " + (60 * PX) + "px";
      data.slots.filter(function (s) { return s.stage_id === st.id; }).forEach(function (s) { col.appendChild(slotBox(s)); });
      col.addEventListener("click", function (ev) {
        if (ev.target !== col) return;
        const minute = Math.floor((ev.offsetY / PX) / 15) * 15;
        openAdd(st.slug, minute);
      });
      grid.appendChild(col);
    });
    if (data.day === data.today) {
      const now = el("div", "tl-now");
      now.setAttribute("aria-hidden", "true");
      now.style.top = (minutesOf(new Date().toISOString()) * PX + 44) + "px";
      grid.appendChild(now);
    }
    tl.appendChild(grid);
    if (!data.slots.length) { const empty = el("p", "tl-empty muted", S.empty_day); tl.appendChild(empty); }
  }

  function drag(ev, s, box, mode) {
    if (ev.button !== 0) return;
    const startX = ev.clientX, startY = ev.clientY;
    const top0 = parseFloat(box.style.top), height0 = parseFloat(box.style.height);
    const home = box.parentElement;
    const start0 = new Date(s.starts_at).getTime(), end0 = new Date(s.ends_at).getTime();
    const timeEl = box.querySelector(".tl-time");
    let moving = false, delta = 0, col = home;
    const target = ev.currentTarget;
    target.setPointerCapture(ev.pointerId);
    const times = function () {
      if (mode === "move") return [start0 + delta * MINUTE, end0 + delta * MINUTE];
      return [start0, Math.max(start0 + SNAP * MINUTE, end0 + delta * MINUTE)];
    };
    const onMove = function (e) {
      if (!moving && Math.abs(e.clientY - startY) < 5 && Math.abs(e.clientX - startX) < 5) return;
      if (!moving) { moving = true; box.classList.add("dragging"); say(S.moving, "status"); }
      delta = Math.round((e.clientY - startY) / PX / SNAP) * SNAP;
      if (mode === "move") {
        // The box follows the pointer across columns without leaving its own (which would end the capture).
        box.style.top = (top0 + delta * PX) + "px";
        box.style.transform = "translateX(" + (e.clientX - startX) + "px)";
        const over = columnAt(e.clientX);
        if (over && over !== col) {
          col.classList.remove("tl-target");
          col = over;
          if (col !== home) col.classList.add("tl-target");
        }
      } else {
        box.style.height = Math.max(SNAP * PX, height0 + delta * PX) + "px";
      }
      const t = times();
      timeEl.textContent = boxTime(isoAt(t[0]), isoAt(t[1]));
    };
    const finish = function (commit) {
      target.removeEventListener("pointermove", onMove);
      target.removeEventListener("pointerup", onUp);
      target.removeEventListener("pointercancel", onCancel);
      document.removeEventListener("keydown", onKey);
      box.classList.remove("dragging");
      box.style.transform = "";
      col.classList.remove("tl-target");
      if (!moving) return;
      suppressClick = true;
      setTimeout(function () { suppressClick = false; }, 0);
      if (!commit || (delta === 0 && col === home)) {
        box.style.top = top0 + "px"; box.style.height = height0 + "px";
        timeEl.textContent = boxTime(s.starts_at, s.ends_at);
        say("", "status");
        return;
      }
      const t = times();
      const body = s.state === "live" ? { ends_at: isoAt(t[1]) } : { starts_at: isoAt(t[0]), ends_at: isoAt(t[1]), stage: col.dataset.stage };
      change("PATCH", "/api/slots/" + s.id, body, S.moved);
    };
    const onUp = function () { finish(true); };
    const onCancel = function () { finish(false); };
    const onKey = function (e) { if (e.key === "Escape") finish(false); };
    target.addEventListener("pointermove", onMove);
    target.addEventListener("pointerup", onUp);
    target.addEventListener("pointercancel", onCancel);
    document.addEventListener("keydown", onKey);
  }

  async function change(method, url, body, done) {
    try {
      await cx.api(method, url, body);
      say(done, "status");
      await refresh();
      return true;
    } catch (e) {
      say(e.message, "error");
      await refresh();
      clashed(e);
      return false;
    }
  }

  // --- requests --------------------------------------------------------------------------------------

  function renderRequests() {
    const list = $('[data-role="requests"]');
    $('[data-role="request-count"]').textContent = String(data.requests.length);
    list.textContent = "";
    if (!data.requests.length) { list.appendChild(el("li", "muted", S.no_requests)); return; }
    data.requests.forEach(function (r) {
      const li = el("li");
      li.dataset.request = r.id;
      li.appendChild(el("strong", "", r.title));
      li.appendChild(el("span", "muted small", [r.booth ? r.booth.label : "", cx.when(r.starts_at, r.ends_at)].filter(Boolean).join(" · ")));
      const row = el("span", "button-row");
      const open = el("button", "button", S.request);
      open.type = "button";
      open.addEventListener("click", function () { openEdit(r); });
      row.appendChild(open);
      const day = cx.localParts(new Date(r.starts_at)).day;
      if (day !== data.day) {
        const go = el("a", "button", S.show_day);
        go.href = "/moderate/schedule?day=" + day;
        row.appendChild(go);
      }
      li.appendChild(row);
      list.appendChild(li);
    });
  }

  // --- the form (the keyboard's way to every change) ------------------------------------------------------

  const field = function (name) { return form.elements.namedItem(name); };
  const nextDay = function (day) {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  };
  const show = function (role, visible) { $('[data-role="' + role + '"]').hidden = !visible; };

  function openDialog() {
    dialogError.hidden = true;
    show("decline-box", false);
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
  }

  function openAdd(stage, minute) {
    editing = null;
    form.reset();
    $('[data-role="dialog-title"]').textContent = S.add;
    show("booth-field", true); show("titles", true); show("booth-shown", false); show("dialog-note", false);
    ["approve", "decline", "cancel-slot"].forEach(function (r) { show(r, false); });
    ["stage", "date", "start"].forEach(function (n) { field(n).disabled = false; });
    field("booth").dataset.number = "";
    if (stage) field("stage").value = stage;
    const at = dayStart() + (minute === undefined ? 10 * 60 : minute) * MINUTE;
    const a = cx.localParts(new Date(at)), b = cx.localParts(new Date(at + 30 * MINUTE));
    field("date").value = a.day; field("start").value = a.hm; field("end").value = b.hm;
    openDialog();
    field("booth").focus();
  }

  function openEdit(s) {
    editing = s;
    form.reset();
    $('[data-role="dialog-title"]').textContent = s.approved ? S.edit : S.request;
    show("booth-field", false); show("titles", false);
    const shown = $('[data-role="booth-shown"]');
    shown.textContent = [s.title, s.booth ? s.booth.label : ""].filter(Boolean).join(" · ");
    shown.hidden = false;
    const stage = data.stages.find(function (st) { return st.id === s.stage_id; });
    if (stage) field("stage").value = stage.slug;
    const a = cx.localParts(new Date(s.starts_at)), b = cx.localParts(new Date(s.ends_at));
    field("date").value = a.day; field("start").value = a.hm; field("end").value = b.hm;
    const live = s.state === "live";
    ["stage", "date", "start"].forEach(function (n) { field(n).disabled = live; });
    const note = $('[data-role="dialog-note"]');
    note.textContent = live ? S.running : "";
    note.hidden = !live;
    show("approve", !s.approved && s.open);
    show("decline", !s.approved && s.open);
    show("cancel-slot", s.approved && s.open);
    openDialog();
    (live ? field("end") : field("start")).focus();
  }

  function formTimes() {
    const day = field("date").value, start = field("start").value, end = field("end").value;
    const endDay = end <= start ? nextDay(day) : day;
    return { starts_at: day + "T" + start, ends_at: endDay + "T" + end };
  }

  async function submit(ev) {
    ev.preventDefault();
    dialogError.hidden = true;
    const times = formTimes();
    let method = "POST", url = "/api/slots", done = S.added, body;
    if (editing) {
      method = "PATCH"; url = "/api/slots/" + editing.id; done = S.saved;
      body = editing.state === "live" ? { ends_at: times.ends_at } : { stage: field("stage").value, starts_at: times.starts_at, ends_at: times.ends_at };
    } else {
      const booth = field("booth");
      const title = {};
      form.querySelectorAll('[name^="title_"]').forEach(function (input) { if (input.value.trim()) title[input.name.slice(6)] = input.value.trim(); });
      body = { booth: booth.dataset.number && booth.value === booth.dataset.label ? booth.dataset.number : booth.value,
               title: title, stage: field("stage").value, starts_at: times.starts_at, ends_at: times.ends_at };
    }
    await act(method, url, body, done);
  }

  async function act(method, url, body, done) {
    try {
      await cx.api(method, url, body);
      dialog.close();
      say(done, "status");
      await refresh();
    } catch (e) {
      dialogError.textContent = e.message;
      dialogError.hidden = false;
      clashed(e);
    }
  }

  form.addEventListener("submit", submit);
  $('[data-role="close"]').addEventListener("click", function () { dialog.close(); });
  $('[data-role="approve"]').addEventListener("click", function () {
    if (editing) act("POST", "/api/slots/" + editing.id + "/approve", {}, S.approved);
  });
  $('[data-role="decline"]').addEventListener("click", function () {
    const box = $('[data-role="decline-box"]');
    if (box.hidden) { box.hidden = false; field("reason").focus(); return; }
    const reason = field("reason").value.trim();
    if (!reason) { dialogError.textContent = S.reason_needed; dialogError.hidden = false; field("reason").focus(); return; }
    if (editing) act("POST", "/api/slots/" + editing.id + "/decline", { reason: reason }, S.declined);
  });
  $('[data-role="cancel-slot"]').addEventListener("click", function () {
    if (editing && window.confirm(S.confirm_cancel)) act("POST", "/api/slots/" + editing.id + "/cancel", {}, S.cancelled);
  });
  $('[data-action="add"]').addEventListener("click", function () { openAdd(data.stages.length ? data.stages[0].slug : ""); });

  // --- the booth picker: a combobox over /api/booth-choices ------------------------------------------------

  (function boothPicker() {
    const input = field("booth");
    const list = document.getElementById("booth-options");
    let choices = [], active = -1, timer = null, asked = 0;
    const close = function () { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; };
    const choose = function (c) {
      input.value = c.label; input.dataset.label = c.label; input.dataset.number = c.number;
      close();
    };
    const paint = function () {
      list.textContent = "";
      choices.forEach(function (c, i) {
        const li = el("li", "combo-option" + (i === active ? " active" : ""), c.label);
        li.id = "booth-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(i === active));
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(c); });
        list.appendChild(li);
      });
      if (!choices.length) list.appendChild(el("li", "combo-empty muted", S.no_booths));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      if (active >= 0) input.setAttribute("aria-activedescendant", "booth-opt-" + active); else input.removeAttribute("aria-activedescendant");
    };
    const ask = async function () {
      const mine = ++asked;
      try {
        const res = await cx.api("GET", "/api/booth-choices?q=" + encodeURIComponent(input.value.trim()));
        if (mine !== asked || document.activeElement !== input) return;
        choices = res.booths; active = choices.length ? 0 : -1; paint();
      } catch (e) { close(); }
    };
    input.addEventListener("input", function () {
      input.dataset.number = "";
      clearTimeout(timer); timer = setTimeout(ask, 150);
    });
    input.addEventListener("focus", function () { if (!input.value) ask(); });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
    input.addEventListener("keydown", function (e) {
      if (list.hidden && (e.key === "ArrowDown" || e.key === "ArrowUp")) { ask(); e.preventDefault(); return; }
      if (e.key === "ArrowDown" && choices.length) { active = (active + 1) % choices.length; paint(); e.preventDefault(); }
      else if (e.key === "ArrowUp" && choices.length) { active = (active - 1 + choices.length) % choices.length; paint(); e.preventDefault(); }
      else if (e.key === "Enter" && !list.hidden && active >= 0) { choose(choices[active]); e.preventDefault(); }
      else if (e.key === "Escape" && !list.hidden) { close(); e.preventDefault(); e.stopPropagation(); }
    });
  })();

  // --- day navigation ------------------------------------------------------------------------------------------

  const dayInput = $('[data-day-input]');
  dayInput.addEventListener("change", function () {
    if (dayInput.value) window.location.href = "/moderate/schedule?day=" + encodeURIComponent(dayInput.value);
  });

  render();
  renderRequests();
  cx.viewerTitles(root);
  // Start where something happens: the first slot of the day, else 08:00.
  const first = data.slots.length ? Math.min.apply(null, data.slots.map(function (s) { return Math.max(0, minutesOf(s.starts_at)); })) : 8 * 60;
  tl.scrollTop = Math.max(0, (first - 30) * PX);
  setInterval(function () { if (!dialog.open && !root.querySelector(".dragging")) refresh(); }, 30000);
  window.cloudexpo.schedule = { refresh: refresh, data: function () { return data; } };
})();

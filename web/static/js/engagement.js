// Cloud Expo — visitor engagement: notification bell, bookmarks, the briefcase, business cards,
// booth analytics (visit, time on booth, video plays, downloads), viewer-local times.
(function () {
  "use strict";
  if (window.cloudexpoEngagement) { return; }
  window.cloudexpoEngagement = true;
  // app.js (run before this deferred script) provides the fetch wrapper that sends the CSRF token.
  const api = function (method, url, body) { return window.cloudexpo.api(method, url, body); };
  const ready = function (fn) { if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); } };

  // --- the bell: unread count, polled; pages following /ws may dispatch "cloudexpo:notification".
  function bell() {
    const count = document.querySelector("[data-bell-count]");
    if (!count) { return; }
    const show = function (n) { count.textContent = n > 99 ? "99+" : String(n); count.hidden = !n; };
    const poll = function () { api("GET", "/api/notifications").then(function (d) { show(d.unread || 0); }).catch(function () {}); };
    poll();
    setInterval(poll, 30000);
    // Live: the websocket delivers this user's notifications as they happen (polling stays as a fallback).
    // Every event it brings is also dispatched as "cloudexpo:ws" (conversations, presence), and
    // window.cloudexpo.wsSend(obj) sends on it; "cloudexpo:ws-open" fires on each (re)connection.
    let retry = 1000;
    let socket = null;
    window.cloudexpo.wsSend = function (obj) {
      if (socket && socket.readyState === 1) { socket.send(JSON.stringify(obj)); return true; }
      return false;
    };
    const listen = function () {
      if (!("WebSocket" in window)) { return; }
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
      socket = ws;
      ws.onmessage = function (m) {
        let parsed = null;
        try { parsed = JSON.parse(m.data); } catch (e) { return; }
        (Array.isArray(parsed) ? parsed : [parsed]).forEach(function (data) {  // a burst comes as one array
          if (data && data.type === "notification") {
            if (typeof data.unread === "number") { show(data.unread); } else { poll(); }
            document.dispatchEvent(new CustomEvent("cloudexpo:notification-received", { detail: data }));
          }
          if (data && data.type) { document.dispatchEvent(new CustomEvent("cloudexpo:ws", { detail: data })); }
        });
      };
      ws.onopen = function () { retry = 1000; document.dispatchEvent(new CustomEvent("cloudexpo:ws-open")); };
      ws.onclose = function () { socket = null; setTimeout(listen, retry); retry = Math.min(retry * 2, 60000); };
    };
    listen();
    document.addEventListener("cloudexpo:notification", function (e) { if (e.detail && typeof e.detail.unread === "number") { show(e.detail.unread); } else { poll(); } });
  }

  // --- bookmark toggles
  // Buttons that carry data-bookmark-known were rendered in their true state (no request to ask);
  // window.cloudexpo.bindBookmarks(root) binds the ones in content loaded later (the live strip).
  function bookmarks(root) {
    (root || document).querySelectorAll("[data-bookmark-kind]").forEach(function (btn) {
      if (btn.dataset.bound) return;
      btn.dataset.bound = "1";
      const kind = btn.dataset.bookmarkKind, id = Number(btn.dataset.bookmarkId);
      // every toggle of the same thing on the page (the panel's and the phone bar's) shows the same state
      const set = function (on) {
        document.querySelectorAll('[data-bookmark-kind="' + kind + '"][data-bookmark-id="' + id + '"]').forEach(function (b) {
          b.setAttribute("aria-pressed", on ? "true" : "false");
          const l = b.querySelector("[data-bookmark-label]");
          if (l) { l.textContent = on ? b.dataset.labelOn : b.dataset.labelOff; }
        });
      };
      btn.addEventListener("click", function (e) {
        e.preventDefault();
        const on = btn.getAttribute("aria-pressed") === "true";
        const call = on ? api("DELETE", "/api/bookmarks/" + kind + "/" + id) : api("POST", "/api/bookmarks", { kind: kind, id: id });
        btn.disabled = true;
        call.then(function () { set(!on); }).catch(function (err) { if (err.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); } }).finally(function () { btn.disabled = false; });
      });
      if (btn.closest("form") && !("bookmarkKnown" in btn.dataset)) {
        api("GET", "/api/bookmarks/" + kind + "/" + id).then(function (d) { set(!!d.bookmarked); }).catch(function () {});
      }
    });
  }

  // --- the briefcase: the navigation's count and the "Add to briefcase" toggles, from one request
  function briefcase() {
    const counts = document.querySelectorAll('[data-nav-count="briefcase"]');
    const toggles = document.querySelectorAll("[data-briefcase-kind]");
    if (!counts.length && !toggles.length) { return; }
    const showCount = function (n) { counts.forEach(function (c) { c.textContent = String(n); c.hidden = !n; }); };
    const set = function (kind, id, on) {
      document.querySelectorAll('[data-briefcase-kind="' + kind + '"][data-briefcase-id="' + id + '"]').forEach(function (b) {
        b.setAttribute("aria-pressed", on ? "true" : "false");
        const l = b.querySelector("[data-briefcase-label]");
        if (l) { l.textContent = on ? b.dataset.labelOn : b.dataset.labelOff; }
      });
    };
    api("GET", "/api/briefcase").then(function (d) {
      showCount(d.count || 0);
      Object.keys(d.items || {}).forEach(function (kind) { d.items[kind].forEach(function (id) { set(kind, id, true); }); });
    }).catch(function () {});
    toggles.forEach(function (btn) {
      btn.addEventListener("click", function (e) {
        e.preventDefault();
        const kind = btn.dataset.briefcaseKind, id = Number(btn.dataset.briefcaseId);
        const on = btn.getAttribute("aria-pressed") === "true";
        const call = on ? api("DELETE", "/api/briefcase/" + kind + "/" + id) : api("POST", "/api/briefcase", { kind: kind, id: id });
        btn.disabled = true;
        call.then(function (d) { set(kind, id, !on); showCount(d.count || 0); })
          .catch(function (err) { if (err.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); } })
          .finally(function () { btn.disabled = false; });
      });
    });
  }

  // --- business card forms: sent as JSON, errors named by field
  function cardForms() {
    document.querySelectorAll("form[data-card-form]").forEach(function (form) {
      const result = form.querySelector("[data-card-result]");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        const data = {};
        new FormData(form).forEach(function (v, k) { if (k !== "csrf_token") { data[k] = v; } });
        data.consent = !!form.querySelector('[name="consent"]').checked;
        form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
        api("POST", "/api/booths/" + form.dataset.boothId + "/cards", data).then(function () {
          result.className = "form-result ok";
          result.textContent = form.dataset.sent || "✓";
          form.querySelector('[name="message"]').value = "";
          form.querySelector('[name="consent"]').checked = false;
        }).catch(function (err) {
          result.className = "form-result error";
          result.textContent = err.message;
          const field = err.data && err.data.field && form.querySelector('[name="' + err.data.field + '"]');
          if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
        });
      });
    });
  }

  // --- booth analytics: the visit (when the server did not count it), time on booth, plays, downloads
  function boothAnalytics() {
    const el = document.querySelector("[data-booth-analytics]");
    if (!el) { return; }
    const booth = Number(el.dataset.boothId);
    const src = new URLSearchParams(location.search).get("src") || "";
    const send = function (body, keepalive) {
      body.booth_id = booth;
      return fetch("/api/analytics/events", { method: "POST", keepalive: !!keepalive, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": window.cloudexpo.csrf }, body: JSON.stringify(body) }).catch(function () {});
    };
    if (el.dataset.counted !== "1") { send({ visit: true, src: src, events: {} }); }
    let shownSince = document.visibilityState === "visible" ? Date.now() : 0;
    let seconds = 0, watch = 0, plays = 0, downloads = 0;
    const flush = function () {
      if (shownSince) { seconds += (Date.now() - shownSince) / 1000; shownSince = document.visibilityState === "visible" ? Date.now() : 0; }
      const events = {};
      if (seconds >= 1) { events.time_seconds = Math.round(seconds); seconds = 0; }
      if (watch >= 1) { events.watch_seconds = Math.round(watch); watch = 0; }
      if (plays) { events.video_plays = plays; plays = 0; }
      if (downloads) { events.downloads = downloads; downloads = 0; }
      if (Object.keys(events).length) { send({ events: events }, true); }
    };
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { flush(); } else { shownSince = Date.now(); }
    });
    window.addEventListener("pagehide", flush);
    document.addEventListener("play", function (e) { if (e.target.tagName === "VIDEO") { plays += 1; } }, true);
    const last = new WeakMap();
    document.addEventListener("timeupdate", function (e) {
      const v = e.target; if (v.tagName !== "VIDEO") { return; }
      const prev = last.get(v); const now = v.currentTime;
      if (prev !== undefined && now > prev && now - prev < 2) { watch += now - prev; }
      last.set(v, now);
    }, true);
    document.addEventListener("click", function (e) {
      const a = e.target.closest && e.target.closest("a[download]");
      if (a && !a.hasAttribute("data-leads-csv")) { downloads += 1; }
    });
  }

  // --- times: the exhibition's zone is printed; add the viewer's own when it differs
  function localTimes() {
    let zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    const expo = document.documentElement.dataset.expoTz || "Asia/Shanghai";
    document.querySelectorAll("[data-viewer-tz]").forEach(function (el) { if (zone && zone !== expo) { el.textContent = "· " + zone; } });
    if (!zone || zone === expo) { return; }
    document.querySelectorAll("time[data-local]").forEach(function (t) {
      const text = window.cloudexpo.when ? window.cloudexpo.when(t.getAttribute("datetime"), null, zone) : "";
      if (!text) { return; }
      const span = document.createElement("span");
      span.className = "local-time";
      span.textContent = " (" + text + " " + zone + ")";
      t.after(span);
    });
  }

  // a link to a closed <details> (the phone bar's "Card") opens it
  function openDetailsLinks() {
    const open = function (id) { const d = document.getElementById(id); if (d && d.tagName === "DETAILS") { d.open = true; } };
    document.querySelectorAll("[data-open-details]").forEach(function (a) {
      a.addEventListener("click", function () { open(a.dataset.openDetails); });
    });
    if (location.hash.length > 1) { open(location.hash.slice(1)); }
  }

  window.cloudexpo = window.cloudexpo || {};
  window.cloudexpo.bindBookmarks = bookmarks;
  ready(function () { bell(); bookmarks(); briefcase(); cardForms(); boothAnalytics(); localTimes(); openDetailsLinks(); });
})();

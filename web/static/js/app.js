// Cloud Expo — small progressive enhancements shared by every page.
(function () {
  "use strict";
  const toggle = document.querySelector(".nav-toggle");
  const nav = document.getElementById("site-nav");
  if (toggle && nav) {
    toggle.addEventListener("click", function () {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  // Behaviour declared in the markup (the Content-Security-Policy allows no inline handlers).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // Open on wide screens, closed on phones (the floor map: phones get the list first, the map a tap away).
  if (window.matchMedia && window.matchMedia("(max-width: 599px)").matches) {
    document.querySelectorAll("details[data-closed-on-phone]").forEach(function (d) { d.open = false; });
  }
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { if (select.form) select.form.submit(); });
  });
  // Every fetch() from our pages carries the CSRF token of this session.
  const meta = document.querySelector('meta[name="csrf-token"]');
  window.cloudexpo = window.cloudexpo || {};
  window.cloudexpo.csrf = meta ? meta.content : "";
  window.cloudexpo.api = async function (method, url, body) {
    // The answer (names, times, refusals) in the page's language, even when the page was opened with ?lang=.
    const opts = { method: method, headers: { "X-CSRF-Token": window.cloudexpo.csrf, "Accept": "application/json", "Accept-Language": document.documentElement.lang || "" }, credentials: "same-origin" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(url, opts);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (!res.ok) { const err = new Error((data && (data.message || data.detail)) || res.statusText); err.status = res.status; err.data = data; throw err; }
    return data;
  };

  // Times: the exhibition's zone, the date whenever it is not today (as web/times.py writes them).
  const zoneMeta = document.querySelector('meta[name="cloudexpo-timezone"]');
  const zone = (zoneMeta && zoneMeta.content) || "UTC";
  const pageLang = document.documentElement.lang || "en";
  const viewerZone = (function () { try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return ""; } })();
  const parts = function (date, tz) {
    const out = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    return { day: out.year + "-" + out.month + "-" + out.day, year: out.year, hm: out.hour + ":" + out.minute };
  };
  const dayText = function (date, tz, withYear) {
    const opts = { timeZone: tz, month: "short", day: "numeric", weekday: "short" };
    if (withYear) opts.year = "numeric";
    return new Intl.DateTimeFormat(pageLang, opts).format(date);
  };
  // when(start[, end[, tz]]): "15:30", "15:30–16:00", "12月7日周一 15:30–16:00" in the exhibition's zone.
  window.cloudexpo.when = function (start, end, tz) {
    tz = tz || zone;
    const a = new Date(start);
    if (isNaN(a)) return "";
    const today = parts(new Date(), tz);
    const pa = parts(a, tz);
    let text = pa.day === today.day ? pa.hm : dayText(a, tz, pa.year !== today.year) + " " + pa.hm;
    if (!end) return text;
    const b = new Date(end);
    const pb = parts(b, tz);
    if (pb.day === pa.day) return text + "–" + pb.hm;
    return text + " – " + dayText(b, tz, pb.year !== today.year) + " " + pb.hm;
  };
  window.cloudexpo.zone = zone;
  // localParts(date[, tz]) -> {day: "YYYY-MM-DD", hm: "HH:MM"} in the exhibition's zone (for forms).
  window.cloudexpo.localParts = function (date, tz) { const p = parts(date, tz || zone); return { day: p.day, hm: p.hm }; };
  // "Your time: 03:30–04:00 Europe/Berlin" when the viewer's zone is not the exhibition's, else "".
  window.cloudexpo.viewerWhen = function (start, end) {
    if (!viewerZone || viewerZone === zone) return "";
    const mine = window.cloudexpo.when(start, end, viewerZone);
    const label = (zoneMeta && zoneMeta.dataset.yourTime) || "Your time";
    return mine ? label + ": " + mine + " " + viewerZone : "";
  };
  // The viewer's own time on hover of every <time data-when> (web/times.py writes them).
  window.cloudexpo.viewerTitles = function (root) {
    (root || document).querySelectorAll("time[data-when]").forEach(function (el) {
      if (el.dataset.viewer) return;
      const mine = window.cloudexpo.viewerWhen(el.getAttribute("datetime"), el.dataset.end);
      if (!mine) return;
      el.dataset.viewer = "1";
      el.title = (el.title ? el.title + "\n" : "") + mine;
    });
  };
  window.cloudexpo.viewerTitles(document);
})();

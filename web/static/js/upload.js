// Cloud Expo — booth media: uploads straight to object storage, resumable.
//
// The page asks /api/uploads for a ticket, then PUTs the file (small files) or
// its parts (large files, several at once) to the URLs storage signed — S3's
// presigned URLs, or the app's own signed URLs for the local folder store.
// The upload is remembered in localStorage by file name, size and date: after
// a reload or a dropped network, choosing the same file again asks which
// parts storage already holds and sends only the rest. Parts that fail are
// retried with growing pauses; expired URLs are fetched anew.
(function () {
  "use strict";
  const app = document.getElementById("media-app");
  if (!app) return;
  const S = JSON.parse(document.getElementById("media-strings").textContent);
  const boothId = Number(app.dataset.boothId);
  const exhibitorId = Number(app.dataset.exhibitorId);
  const moderator = app.dataset.moderator === "true";
  const lang = document.documentElement.lang || "zh-Hans";
  const api = window.cloudexpo.api;
  const STORE_KEY = "cloudexpo.uploads";
  const URL_BATCH = 16;
  const MAX_ATTEMPTS = 8;

  const $ = (id) => document.getElementById(id);
  const form = $("upload-form"), fileInput = $("upload-file"), kindSelect = $("upload-kind");
  const startButton = $("upload-start"), cancelButton = $("upload-cancel");
  const notice = $("resume-notice"), errorBox = $("upload-error");
  const progressBox = $("upload-progress"), bar = $("upload-bar"), label = $("upload-label");
  const percentText = $("upload-percent"), bytesText = $("upload-bytes");
  const speedText = $("upload-speed"), etaText = $("upload-eta");
  const list = $("asset-list"), empty = $("asset-empty");

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, (_m, k) => (values[k] === undefined ? "" : String(values[k])));
  }
  function bytes(n) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let v = n, i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[i];
  }
  function duration(seconds) {
    if (!isFinite(seconds)) return "…";
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  function waitOnline() {
    if (navigator.onLine) return Promise.resolve();
    showNotice(S.offline);
    return new Promise((resolve) => window.addEventListener("online", () => resolve(), { once: true }));
  }
  function showError(text) { errorBox.textContent = text; errorBox.hidden = !text; }
  function showNotice(text) { notice.textContent = text || ""; }

  // --- quota ---------------------------------------------------------------------
  let quota = null;
  async function loadQuota() {
    renderQuota(await api("GET", `/api/exhibitors/${exhibitorId}/quota`));
  }
  function renderQuota(q) {
    quota = q;
    $("quota-meter").max = quota.quota;
    $("quota-meter").value = quota.used;
    $("quota-text").textContent = fmt(S.used_of, { used: bytes(quota.used), quota: bytes(quota.quota), free: bytes(quota.free) });
    $("limits-text").textContent = fmt(S.limits, {
      image: bytes(quota.max_file.image), video: bytes(quota.max_file.video), document: bytes(quota.max_file.document),
    });
  }

  // --- uploads remembered across reloads --------------------------------------------------
  function pending() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function savePending(all) { try { localStorage.setItem(STORE_KEY, JSON.stringify(all)); } catch (e) { /* private mode */ } }
  function fileKey(file) { return [boothId, file.name, file.size, file.lastModified].join("|"); }
  function remember(file, id, kind) {
    const all = pending();
    all[fileKey(file)] = { id: id, booth: boothId, name: file.name, size: file.size, kind: kind, at: Date.now() };
    savePending(all);
  }
  function forget(file) { const all = pending(); delete all[fileKey(file)]; savePending(all); }

  async function announceInterrupted() {
    const all = pending();
    const mine = Object.entries(all).filter(([, v]) => v.booth === boothId);
    const lines = [];
    for (const [key, entry] of mine) {
      try {
        const status = await api("GET", `/api/uploads/${entry.id}`);
        if (status.state === "uploading") {
          lines.push(fmt(S.interrupted, { name: entry.name, size: bytes(entry.size) }));
          continue;
        }
      } catch (e) { /* gone */ }
      delete all[key];
    }
    savePending(all);
    showNotice(lines.join(" "));
  }

  // --- one upload ----------------------------------------------------------------------
  function put(url, body, headers, onProgress, onXhr) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      onXhr(xhr);
      xhr.open("PUT", url);
      for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve((xhr.getResponseHeader("ETag") || "").replace(/"/g, ""));
        else { const err = new Error(`HTTP ${xhr.status}`); err.status = xhr.status; err.body = xhr.responseText; reject(err); }
      };
      xhr.onerror = () => { const err = new Error("network"); err.status = 0; reject(err); };
      xhr.onabort = () => { const err = new Error("aborted"); err.aborted = true; reject(err); };
      xhr.send(body);
    });
  }

  class Upload {
    constructor(file, kind) {
      this.file = file;
      this.kind = kind;
      this.ticket = null;
      this.done = new Map(); // part number -> {etag, size}
      this.inflight = new Map(); // part number -> bytes sent
      this.xhrs = new Set();
      this.urls = new Map(); // part number -> {url, at}
      this.cancelled = false;
      this.sessionStart = null;
      this.speed = 0;
      this.lastSample = null;
    }

    loaded() {
      let n = 0;
      for (const p of this.done.values()) n += p.size;
      for (const v of this.inflight.values()) n += v;
      return Math.min(n, this.file.size);
    }

    render() {
      const total = this.file.size, loaded = this.loaded();
      const now = performance.now();
      if (this.lastSample) {
        const dt = (now - this.lastSample.t) / 1000;
        if (dt >= 0.4) {
          const rate = Math.max(0, (loaded - this.lastSample.loaded) / dt);
          this.speed = this.speed ? this.speed * 0.7 + rate * 0.3 : rate;
          this.lastSample = { t: now, loaded: loaded };
        }
      } else {
        this.lastSample = { t: now, loaded: loaded };
      }
      const pct = total ? Math.floor((loaded / total) * 100) : 100;
      bar.value = pct;
      bar.setAttribute("aria-valuetext", pct + "%");
      percentText.textContent = pct + "%";
      bytesText.textContent = `${bytes(loaded)} / ${bytes(total)}`;
      speedText.textContent = this.speed ? fmt(S.speed, { speed: bytes(this.speed) }) : "";
      etaText.textContent = this.speed > 0 ? fmt(S.left, { time: duration((total - loaded) / this.speed) }) : "";
    }

    async start() {
      const file = this.file;
      const limit = quota && quota.max_file[this.kind];
      if (limit && file.size > limit) throw new Error(fmt(S.too_big, { size: bytes(file.size), limit: bytes(limit) }));
      const saved = pending()[fileKey(file)];
      let status = null;
      if (saved && saved.kind === this.kind) {
        try {
          status = await api("GET", `/api/uploads/${saved.id}`);
          if (status.state !== "uploading") status = null;
        } catch (e) { status = null; }
        if (!status) forget(file);
      }
      if (!status && quota && file.size > quota.free) {
        throw new Error(fmt(S.over_quota, { size: bytes(file.size), free: bytes(quota.free) }));
      }
      progressBox.hidden = false;
      cancelButton.hidden = false;
      label.textContent = S.preparing;
      if (status) {
        this.ticket = status;
        for (const p of status.parts) this.done.set(p.part_number, { etag: p.etag, size: p.size });
        label.textContent = fmt(S.resuming, { name: file.name, done: bytes(status.done_bytes), total: bytes(file.size) });
        showNotice(label.textContent);
        app.dataset.resumedParts = String(status.parts.length);
      } else {
        this.ticket = await api("POST", "/api/uploads", {
          booth_id: boothId, kind: this.kind, filename: file.name, size: file.size, content_type: file.type,
        });
        remember(file, this.ticket.id, this.kind);
        loadQuota().catch(() => {}); // the upload holds its room from now on
        label.textContent = fmt(S.uploading, { name: file.name });
        showNotice("");
      }
      app.dataset.uploadId = String(this.ticket.id);
      this.render();
      const timer = setInterval(() => this.render(), 250);
      try {
        if (this.ticket.mode === "single") await this.single(status);
        else await this.multipart();
        if (this.cancelled) return null;
        label.textContent = S.finishing;
        const parts = [...this.done.entries()].sort((a, b) => a[0] - b[0]).map(([n, p]) => ({ part_number: n, etag: p.etag }));
        let asset;
        try {
          asset = await api("POST", `/api/uploads/${this.ticket.id}/complete`, { parts: parts });
        } catch (e) {
          if (e.data && e.data.error === "rejected") forget(file);
          throw e;
        }
        forget(file);
        this.render();
        label.textContent = S.done;
        showNotice("");
        return asset;
      } finally {
        clearInterval(timer);
      }
    }

    async single(status) {
      if (status && status.uploaded) { this.done.set(1, { etag: "", size: this.file.size }); return; }
      const url = this.ticket.url;
      await this.withRetries(1, async () => {
        const etag = await put(url, this.file, this.ticket.headers, (n) => this.inflight.set(1, n), (x) => this.xhrs.add(x));
        this.inflight.delete(1);
        this.done.set(1, { etag: etag, size: this.file.size });
      });
    }

    async partUrl(n, queue) {
      const cached = this.urls.get(n);
      if (cached && Date.now() - cached.at < (this.ticket.expires_in * 1000) / 2) return cached.url;
      const batch = [n, ...queue.filter((m) => m !== n && !this.urls.has(m)).slice(0, URL_BATCH - 1)];
      const answer = await api("POST", `/api/uploads/${this.ticket.id}/parts`, { part_numbers: batch });
      const at = Date.now();
      for (const p of answer.parts) this.urls.set(p.part_number, { url: p.url, at: at });
      return this.urls.get(n).url;
    }

    async multipart() {
      const t = this.ticket;
      const queue = [];
      for (let n = 1; n <= t.part_count; n++) if (!this.done.has(n)) queue.push(n);
      const worker = async () => {
        while (queue.length && !this.cancelled) {
          const n = queue.shift();
          const start = (n - 1) * t.part_size;
          const blob = this.file.slice(start, Math.min(this.file.size, start + t.part_size));
          await this.withRetries(n, async () => {
            const url = await this.partUrl(n, queue);
            const etag = await put(url, blob, {}, (sent) => this.inflight.set(n, sent), (x) => this.xhrs.add(x));
            this.inflight.delete(n);
            this.done.set(n, { etag: etag, size: blob.size });
            app.dataset.partsDone = String(this.done.size);
          });
        }
      };
      const workers = [];
      for (let i = 0; i < Math.min(t.concurrency || 4, queue.length); i++) workers.push(worker());
      await Promise.all(workers);
    }

    async withRetries(n, attempt) {
      for (let i = 0; ; i++) {
        try { await attempt(); showError(""); return; } catch (e) {
          this.inflight.delete(n);
          if (this.cancelled || e.aborted) throw e;
          if (i + 1 >= MAX_ATTEMPTS || (e.status >= 400 && e.status < 500 && e.status !== 403 && e.status !== 408 && e.status !== 429)) throw e;
          this.urls.delete(n); // an expired or refused URL: ask for a fresh one
          await waitOnline();
          const seconds = Math.min(30, 2 ** i) + Math.random();
          showNotice(fmt(S.retrying, { seconds: Math.round(seconds) }));
          await sleep(seconds * 1000);
          showNotice("");
        }
      }
    }

    async cancel() {
      this.cancelled = true;
      for (const x of this.xhrs) x.abort();
      if (this.ticket) { try { await api("DELETE", `/api/uploads/${this.ticket.id}`); } catch (e) { /* already gone */ } }
      forget(this.file);
    }
  }

  let current = null;

  async function onFileChosen() {
    showError("");
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    const saved = pending()[fileKey(file)];
    if (saved) {
      kindSelect.value = saved.kind;
      try {
        const status = await api("GET", `/api/uploads/${saved.id}`);
        if (status.state === "uploading") {
          showNotice(fmt(S.resuming, { name: file.name, done: bytes(status.done_bytes), total: bytes(file.size) }));
          return;
        }
      } catch (e) { /* forgotten below */ }
      forget(file);
    }
    showNotice("");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (current) return;
    const file = fileInput.files && fileInput.files[0];
    if (!file) { showError(S.choose_file); return; }
    showError("");
    current = new Upload(file, kindSelect.value);
    startButton.disabled = true;
    app.dataset.uploadState = "uploading";
    try {
      const asset = await current.start();
      if (asset) {
        app.dataset.uploadState = "complete";
        app.dataset.assetId = String(asset.id);
        fileInput.value = "";
      }
    } catch (e) {
      app.dataset.uploadState = "failed";
      if (!current.cancelled) showError(fmt(S.failed, { reason: e.message || String(e) }));
      else showError(S.cancelled);
    } finally {
      current = null;
      startButton.disabled = false;
      cancelButton.hidden = true;
      await refresh();
    }
  });
  fileInput.addEventListener("change", onFileChosen);
  cancelButton.addEventListener("click", async () => { if (current) await current.cancel(); });
  window.addEventListener("offline", () => showNotice(S.offline));
  window.addEventListener("online", () => showNotice(""));

  // --- the asset list -------------------------------------------------------------------
  let pollTimer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function button(text, handler) {
    const b = el("button", { type: "button", class: "button" }, text);
    b.addEventListener("click", handler);
    return b;
  }

  function renderAsset(a, index, all) {
    const item = el("li", { class: `asset state-${a.state}`, "data-asset-id": a.id, "data-state": a.state });
    const preview = el("div", { class: "preview" });
    const thumb = a.thumbs && (a.thumbs["640"] || a.thumbs["320"]);
    const title = (a.title && (a.title[lang] || a.title["zh-Hans"] || a.title.en)) || "";
    if (thumb || a.poster) preview.append(el("img", { src: thumb || a.poster, alt: title || a.filename, loading: "lazy" }));
    else if (a.state !== "processing") preview.append(el("span", { class: "muted" }, S["kind_" + a.kind] || a.kind));
    item.append(preview);
    item.append(el("span", { class: "name" }, a.filename));
    const badges = el("div", {}, el("span", { class: "badge" }, S["kind_" + a.kind] || a.kind), " ",
      el("span", { class: "badge state" }, S["state_" + a.state] || a.state));
    if (a.hidden) badges.append(" ", el("span", { class: "badge" }, S.hidden));
    item.append(badges);
    item.append(el("span", { class: "small muted" }, bytes(a.size)));
    if (a.problem) item.append(el("p", { class: "alert error small", role: "note" }, a.problem));
    if (a.warning) item.append(el("p", { class: "alert warn small", role: "note" }, el("strong", {}, S.not_playable), ": ", a.warning));
    if (a.state === "ready") {
      const titleInput = el("input", { type: "text", value: title, maxlength: "200", "aria-label": S.title_label, placeholder: S.title_label });
      const save = button(S.save, async () => {
        const t = Object.assign({}, a.title || {}); t[lang] = titleInput.value;
        await api("PATCH", `/api/assets/${a.id}`, { title: t });
        await refresh();
      });
      item.append(el("div", { class: "actions" }, titleInput, save));
    }
    if (a.kind === "banner" && a.state === "ready") {
      // a banner with words on it is made for the pages of one language (booths.media.views.for_language)
      const current = (a.meta && a.meta.language) || "";
      const choice = el("select", { "data-banner-language": a.id });
      choice.append(el("option", { value: "" }, S.every_language));
      for (const [code, name] of Object.entries(S.languages || {})) {
        const option = el("option", { value: code, lang: code }, name);
        if (code === current) option.selected = true;
        choice.append(option);
      }
      choice.addEventListener("change", async () => {
        await api("PATCH", `/api/assets/${a.id}`, { language: choice.value || null });
        await refresh();
      });
      item.append(el("label", { class: "small" }, S.banner_language, " ", choice));
    }
    const actions = el("div", { class: "actions" });
    if (a.url) actions.append(el("a", { class: "button", href: a.url, target: "_blank", rel: "noopener" }, S.open));
    if (index > 0) actions.append(button(S.up, () => move(all, index, -1)));
    if (index < all.length - 1) actions.append(button(S.down, () => move(all, index, 1)));
    if (moderator) actions.append(button(a.hidden ? S.unhide : S.hide, async () => {
      await api("PATCH", `/api/assets/${a.id}`, { hidden: !a.hidden }); await refresh();
    }));
    if (a.state !== "uploading") actions.append(button(S.delete, async () => {
      if (!window.confirm(fmt(S.confirm_delete, { name: a.filename }))) return;
      await api("DELETE", `/api/assets/${a.id}`); await refresh();
    }));
    item.append(actions);
    return item;
  }

  async function move(all, index, delta) {
    const ids = all.map((a) => a.id);
    const [id] = ids.splice(index, 1);
    ids.splice(index + delta, 0, id);
    await api("POST", `/api/booths/${boothId}/assets/order`, { ids: ids });
    await refresh();
  }

  async function refresh() {
    const data = await api("GET", `/api/booths/${boothId}/assets`);
    const shown = data.assets.filter((a) => a.state !== "uploading" || (current && current.ticket && current.ticket.asset_id === a.id));
    list.replaceChildren(...shown.map((a, i) => renderAsset(a, i, shown)));
    empty.hidden = shown.length > 0;
    if (data.quota) renderQuota(data.quota);
    clearTimeout(pollTimer);
    if (data.assets.some((a) => a.state === "processing")) pollTimer = setTimeout(refresh, 2000);
  }

  loadQuota().catch((e) => showError(e.message));
  refresh().catch((e) => showError(e.message));
  announceInterrupted().catch(() => {});
})();

// Documents read in the page: pdf.js (vendored, its worker from this site) draws each page on a
// canvas with a text layer over it, so the text can be selected, searched and read aloud.
// Pages are drawn as they come near the screen; the toolbar pages and zooms.
import * as pdfjs from "../vendor/pdfjs/pdf.min.mjs";

const view = document.querySelector('[data-role="pdf-view"]');
if (view) open(view);

async function open(view) {
  const $ = (role) => document.querySelector('[data-role="' + role + '"]');
  const status = $("pdf-status");
  const failed = (err) => {
    status.hidden = true;
    $("pdf-error").hidden = false;
    if (err) console.warn("document:", err);
  };
  pdfjs.GlobalWorkerOptions.workerSrc = view.dataset.worker;
  let doc;
  try {
    doc = await pdfjs.getDocument({
      url: view.dataset.src,
      cMapUrl: view.dataset.cmaps,
      cMapPacked: true,
      standardFontDataUrl: view.dataset.fonts,
      isEvalSupported: false, // the CSP allows no eval
      enableXfa: false,
    }).promise;
  } catch (err) {
    failed(err);
    return;
  }
  status.hidden = true;
  const toolbar = $("pdf-toolbar");
  const label = $("pdf-page");
  const pageLabel = view.dataset.pageLabel || "{n} / {total}";
  const first = await doc.getPage(1);
  const natural = first.getViewport({ scale: 1 });
  const fit = () => Math.max(0.5, Math.min(1.6, (view.clientWidth - 8) / natural.width));
  let scale = fit();
  const pages = [];

  for (let n = 1; n <= doc.numPages; n++) {
    const box = document.createElement("div");
    box.className = "pdf-page";
    box.dataset.page = String(n);
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", pageLabel.replace("{n}", n).replace("{total}", doc.numPages));
    view.appendChild(box);
    pages.push({ n, box, drawn: 0, task: null });
  }

  function size(entry) {
    entry.box.style.width = Math.floor(natural.width * scale) + "px";
    entry.box.style.height = Math.floor(natural.height * scale) + "px";
  }

  async function draw(entry) {
    if (entry.drawn === scale) return;
    const drawing = scale;
    entry.drawn = drawing;
    if (entry.task) entry.task.cancel();
    const page = entry.n === 1 ? first : await doc.getPage(entry.n);
    const viewport = page.getViewport({ scale: drawing });
    const ratio = window.devicePixelRatio || 1;
    const canvas = document.createElement("canvas");
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    canvas.style.width = Math.floor(viewport.width) + "px";
    canvas.style.height = Math.floor(viewport.height) + "px";
    canvas.setAttribute("aria-hidden", "true");
    const text = document.createElement("div");
    text.className = "textLayer";
    const box = entry.box;
    box.style.width = canvas.style.width;
    box.style.height = canvas.style.height;
    for (const [name, value] of [["--scale-factor", drawing], ["--total-scale-factor", drawing], ["--user-unit", 1],
                                 ["--scale-round-x", "1px"], ["--scale-round-y", "1px"]]) {
      box.style.setProperty(name, String(value));
    }
    entry.task = page.render({ canvas, viewport, transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : null });
    try {
      await entry.task.promise;
    } catch (err) {
      if (err && err.name === "RenderingCancelledException") return;
      throw err;
    }
    if (entry.drawn !== drawing) return; // zoomed while drawing
    box.replaceChildren(canvas, text);
    await new pdfjs.TextLayer({ textContentSource: page.streamTextContent(), container: text, viewport }).render();
    box.dataset.drawn = "true";
  }

  const near = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) {
        const entry = pages[Number(e.target.dataset.page) - 1];
        draw(entry).catch(failed);
      }
    }
  }, { rootMargin: "600px 0px" });

  function current() {
    const middle = window.innerHeight / 2;
    let best = pages[0];
    for (const entry of pages) {
      if (entry.box.getBoundingClientRect().top <= middle) best = entry;
    }
    return best.n;
  }

  function showPage() {
    label.textContent = pageLabel.replace("{n}", current()).replace("{total}", doc.numPages);
  }

  function zoom(factor) {
    scale = Math.max(0.4, Math.min(4, scale * factor));
    const at = current();
    for (const entry of pages) {
      size(entry);
      const rect = entry.box.getBoundingClientRect();
      if (rect.bottom > -600 && rect.top < window.innerHeight + 600) draw(entry).catch(failed);
    }
    pages[at - 1].box.scrollIntoView({ block: "start" });
  }

  for (const entry of pages) {
    size(entry);
    near.observe(entry.box);
  }
  toolbar.hidden = false;
  showPage();
  window.addEventListener("scroll", showPage, { passive: true });
  $("pdf-prev").addEventListener("click", () => pages[Math.max(0, current() - 2)].box.scrollIntoView({ block: "start" }));
  $("pdf-next").addEventListener("click", () => pages[Math.min(pages.length - 1, current())].box.scrollIntoView({ block: "start" }));
  $("pdf-zoom-in").addEventListener("click", () => zoom(1.25));
  $("pdf-zoom-out").addEventListener("click", () => zoom(1 / 1.25));
}

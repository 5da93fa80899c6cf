// Rich-text editing of booth and product descriptions: each <textarea data-rich> becomes a Squire editor
// (web/static/vendor/squire.js) with a small toolbar; the textarea stays the form's field and receives the
// editor's HTML on every change, so the form posts as before and the server sanitises it (nh3).
(function () {
  "use strict";

  // Squire asks for a sanitiser of pasted or loaded HTML; the server sanitises what is saved, this keeps
  // scripts, styles, frames and event handlers out of the editing view.
  function toFragment(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("script, style, iframe, object, embed, link, meta").forEach(function (n) { n.remove(); });
    doc.querySelectorAll("*").forEach(function (el) {
      Array.prototype.slice.call(el.attributes).forEach(function (a) {
        if (/^on/i.test(a.name) || a.name === "style" || (a.name === "href" && /^\s*javascript:/i.test(a.value))) {
          el.removeAttribute(a.name);
        }
      });
    });
    var frag = document.createDocumentFragment();
    while (doc.body.firstChild) frag.appendChild(document.adoptNode(doc.body.firstChild));
    return frag;
  }

  // Squire marks bold and italics with <b> and <i>; descriptions keep <strong> and <em> (the tags the server allows).
  var RENAME = { B: "strong", I: "em" };
  function toStored(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    Object.keys(RENAME).forEach(function (tag) {
      doc.body.querySelectorAll(tag).forEach(function (old) {
        var el = doc.createElement(RENAME[tag]);
        while (old.firstChild) el.appendChild(old.firstChild);
        old.replaceWith(el);
      });
    });
    return doc.body.innerHTML;
  }

  var ACTIONS = [
    ["bold", "B", function (e) { if (e.hasFormat("B")) e.removeBold(); else e.bold(); }, "strong"],
    ["italic", "I", function (e) { if (e.hasFormat("I")) e.removeItalic(); else e.italic(); }, "em"],
    ["bullets", "•", function (e) { e.makeUnorderedList(); }, ""],
    ["numbers", "1.", function (e) { e.makeOrderedList(); }, ""],
    ["link", "", null, ""],  // no glyph: the button shows its (translated) name
    ["unlink", "", function (e) { e.removeLink(); }, ""],
  ];

  function setUp(area) {
    if (typeof window.Squire !== "function") return;  // the plain textarea still works
    var labels = area.dataset;
    var wrap = document.createElement("div");
    wrap.className = "rich-editor";
    var bar = document.createElement("div");
    bar.className = "rich-toolbar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", labels.richToolbar || "Formatting");
    var surface = document.createElement("div");
    surface.className = "rich-surface rich";
    surface.setAttribute("role", "textbox");
    surface.setAttribute("aria-multiline", "true");
    var label = area.id ? document.querySelector('label[for="' + area.id + '"]') : null;
    if (label && label.id) surface.setAttribute("aria-labelledby", label.id);
    else surface.setAttribute("aria-label", labels.richLabel || "Description");
    var editor;
    ACTIONS.forEach(function (action) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button small rich-" + action[0];
      button.setAttribute("aria-label", labels["rich" + action[0][0].toUpperCase() + action[0].slice(1)] || action[0]);
      button.title = button.getAttribute("aria-label");
      if (action[1]) {
        var mark = document.createElement(action[3] || "span");
        mark.setAttribute("aria-hidden", "true");
        // drawn by CSS (attr(data-glyph)), not as text: "1." is no part of the name "Numbered list"
        mark.dataset.glyph = action[1];
        button.appendChild(mark);
      } else {
        button.textContent = button.getAttribute("aria-label");
      }
      button.addEventListener("click", function () {
        if (action[0] === "link") {
          var url = window.prompt(labels.richLinkPrompt || "Link address (https://…)", "https://");
          if (url && /^(https?:|mailto:)/i.test(url.trim())) editor.makeLink(url.trim());
        } else {
          action[2](editor);
        }
        editor.focus();
      });
      bar.appendChild(button);
    });
    wrap.appendChild(bar);
    wrap.appendChild(surface);
    area.insertAdjacentElement("afterend", wrap);
    area.hidden = true;
    editor = new window.Squire(surface, { sanitizeToDOMFragment: toFragment, blockTag: "P" });
    editor.setHTML(area.value || "");
    var sync = function () { area.value = toStored(editor.getHTML()); };
    editor.addEventListener("input", sync);
    editor.addEventListener("pathChange", sync);
    if (area.form) area.form.addEventListener("submit", sync);
    // The textarea's label now names the editor: a click on it puts the caret in the editor.
    if (label) label.addEventListener("click", function () { editor.focus(); });
  }

  document.querySelectorAll("textarea[data-rich]").forEach(setUp);
})();

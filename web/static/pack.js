/* Evidence packs, kept in this browser only (localStorage); the server stores nothing.
 *
 * On every page: reveals the "Add to pack" buttons (data-pack-passage, data-pack-myth,
 * data-pack-label) and keeps them and the header's count in step with the pack.
 * On /pack (#pack-app): lists the pack with the stored text and citation of each passage
 * (POST /api/packs/render, format "json"), lets the person reorder, remove, add headings and
 * notes and a title, downloads files, and makes a share link. A link ending in #share=... opens
 * a shared pack; #add=<passage id> (from the search widget) offers one passage to add.
 *
 * Everything a person or a document wrote is put on the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var KEY = "kb.pack.v1";
  var MAX_ITEMS = 200;
  var MAX_NOTE = 2000;
  var MAX_TITLE = 200;
  var MAX_HEADING = 200;

  // -- the pack in localStorage ---------------------------------------------------------------

  function emptyPack() { return { title: "", items: [] }; }

  function clip(value, limit) { return typeof value === "string" ? value.slice(0, limit) : ""; }

  function validId(value) { return Number.isSafeInteger(value) && value >= 1; }

  /* Only well-formed entries survive: storage can hold anything another script left. */
  function normalise(raw) {
    var pack = emptyPack();
    if (!raw || typeof raw !== "object") { return pack; }
    pack.title = clip(raw.title, MAX_TITLE);
    (Array.isArray(raw.items) ? raw.items : []).forEach(function (item) {
      if (pack.items.length >= MAX_ITEMS || !item || typeof item !== "object") { return; }
      if (item.type === "heading" && typeof item.text === "string") {
        pack.items.push({ type: "heading", text: clip(item.text, MAX_HEADING) });
      } else if (item.type === "passage" && validId(item.id)) {
        pack.items.push({
          type: "passage",
          id: item.id,
          myth: typeof item.myth === "string" && item.myth ? clip(item.myth, 100) : null,
          note: clip(item.note, MAX_NOTE),
          label: clip(item.label, 300)
        });
      }
    });
    return pack;
  }

  function load() {
    try {
      return normalise(JSON.parse(window.localStorage.getItem(KEY) || "null"));
    } catch (error) {
      return emptyPack();
    }
  }

  function save(pack) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(pack));
      return true;
    } catch (error) {
      announce("Your browser would not keep the pack (its storage is full or turned off).");
      return false;
    }
  }

  function passageCount(pack) {
    return pack.items.filter(function (item) { return item.type === "passage"; }).length;
  }

  function indexOfPassage(pack, id) {
    for (var i = 0; i < pack.items.length; i += 1) {
      if (pack.items[i].type === "passage" && pack.items[i].id === id) { return i; }
    }
    return -1;
  }

  function addPassage(pack, id, myth, label) {
    if (indexOfPassage(pack, id) !== -1) { return true; }
    if (pack.items.length >= MAX_ITEMS) {
      announce("The pack is full: it holds at most " + MAX_ITEMS + " items.");
      return false;
    }
    pack.items.push({ type: "passage", id: id, myth: myth || null, note: "", label: label || "" });
    return save(pack);
  }

  // -- small helpers --------------------------------------------------------------------------

  function announce(message) {
    var status = document.getElementById("live-status");
    if (!status) { return; }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function button(label, className, onClick) {
    var node = el("button", "button secondary " + (className || ""), label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  /* A citation from kb.citations: its *title* in Markdown italics becomes <em>. */
  function appendCitation(parent, citation) {
    var pieces = String(citation).split("*");
    if (pieces.length % 2 === 0) { parent.appendChild(document.createTextNode(citation)); return; }
    pieces.forEach(function (piece, index) {
      if (!piece) { return; }
      parent.appendChild(index % 2 ? el("em", null, piece) : document.createTextNode(piece));
    });
  }

  // -- "Add to pack" buttons and the header count, on every page -------------------------------

  function updateButtons(pack) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-pack-passage]"), function (b) {
      var inPack = indexOfPassage(pack, Number(b.getAttribute("data-pack-passage"))) !== -1;
      b.hidden = false;
      // The label says what a click does; the state is for the stylesheet (a tick).
      b.setAttribute("data-in-pack", inPack ? "true" : "false");
      b.querySelector(".pack-button-label").textContent = inPack ? "Remove from pack" : "Add to pack";
    });
    var count = passageCount(pack);
    Array.prototype.forEach.call(document.querySelectorAll("[data-pack-count]"), function (c) {
      c.textContent = count ? " (" + count + ")" : "";
    });
  }

  function setUpAddButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-pack-passage]"), function (b) {
      b.addEventListener("click", function () {
        var pack = load();
        var id = Number(b.getAttribute("data-pack-passage"));
        var at = indexOfPassage(pack, id);
        if (at !== -1) {
          pack.items.splice(at, 1);
          if (save(pack)) { announce("Removed from your pack."); }
        } else if (addPassage(pack, id, b.getAttribute("data-pack-myth"),
                              b.getAttribute("data-pack-label"))) {
          announce("Added to your pack: " + passageCount(pack) + " passages.");
        }
        updateButtons(load());
      });
    });
    updateButtons(load());
    window.addEventListener("storage", function (event) {
      if (event.key === KEY) { updateButtons(load()); }
    });
  }

  // -- share links ----------------------------------------------------------------------------

  function toBase64Url(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64Url(text) {
    var binary = window.atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return new TextDecoder().decode(bytes);
  }

  /* Ids (with the myth they came from), headings and the title; never the notes. */
  function shareLink(pack) {
    var items = pack.items.map(function (item) {
      if (item.type === "heading") { return { h: item.text }; }
      return item.myth ? [item.id, item.myth] : item.id;
    });
    var payload = toBase64Url(JSON.stringify({ v: 1, t: pack.title, i: items }));
    return window.location.origin + "/pack#share=" + payload;
  }

  function readShared(payload) {
    var data = JSON.parse(fromBase64Url(payload));
    if (!data || data.v !== 1 || !Array.isArray(data.i)) { throw new Error("not a pack"); }
    return normalise({
      title: data.t,
      items: data.i.map(function (entry) {
        if (entry && typeof entry === "object" && !Array.isArray(entry)) {
          return { type: "heading", text: entry.h };
        }
        if (Array.isArray(entry)) { return { type: "passage", id: entry[0], myth: entry[1] }; }
        return { type: "passage", id: entry };
      })
    });
  }

  // -- the /pack page -------------------------------------------------------------------------

  function PackPage(root) {
    this.root = root;
    this.list = root.querySelector("#pack-items");
    this.empty = root.querySelector("#pack-empty");
    this.tools = root.querySelector("#pack-tools");
    this.title = root.querySelector("#pack-title");
    this.missing = root.querySelector("#pack-missing");
    this.offer = root.querySelector("#pack-offer");
    this.shareField = root.querySelector("#pack-share-link");
    this.downloadStatus = root.querySelector("#pack-download-status");
    this.resolved = {};  // passage id -> the server's item (text, citation, url, myth)
    this.gone = {};  // passage id -> true when the server no longer has it
  }

  PackPage.prototype.start = function () {
    var page = this;
    this.root.querySelector("#pack-noscript-note").hidden = true;
    this.root.querySelector("#pack-app-body").hidden = false;
    this.title.addEventListener("input", function () {
      var pack = load();
      pack.title = page.title.value.slice(0, MAX_TITLE);
      save(pack);
      page.refreshShare(pack);
    });
    this.root.querySelector("#pack-heading-form").addEventListener("submit", function (event) {
      event.preventDefault();
      page.addHeading();
    });
    Array.prototype.forEach.call(this.root.querySelectorAll("[data-pack-format]"), function (b) {
      b.addEventListener("click", function () { page.download(b.getAttribute("data-pack-format")); });
    });
    this.root.querySelector("#pack-clear").addEventListener("click", function () {
      if (window.confirm("Empty your pack? This cannot be undone.")) {
        save(emptyPack());
        page.render();
        announce("Your pack is empty.");
      }
    });
    this.root.querySelector("#pack-share-copy").addEventListener("click", function () {
      page.shareField.focus();
      page.shareField.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(page.shareField.value).then(
          function () { announce("Share link copied."); },
          function () { announce("The link is selected: press Ctrl+C (or Command+C) to copy it."); }
        );
      } else {
        announce("The link is selected: press Ctrl+C (or Command+C) to copy it.");
      }
    });
    this.handleFragment();
    window.addEventListener("hashchange", function () { page.handleFragment(); });
  };

  PackPage.prototype.handleFragment = function () {
    var hash = window.location.hash;
    var page = this;
    if (hash.indexOf("#share=") === 0) {
      var shared;
      try {
        shared = readShared(hash.slice(7));
      } catch (error) {
        this.fetchAndRender();
        announce("That share link is damaged: it does not hold a pack.");
        return;
      }
      history.replaceState(null, "", window.location.pathname);
      var mine = load();
      if (!mine.items.length || window.confirm(
        "Open the shared pack “" + (shared.title || "Evidence pack") + "”? It replaces " +
        "the pack in this browser (" + passageCount(mine) + " passages).")) {
        save(shared);
        announce("Opened the shared pack: " + passageCount(shared) + " passages.");
      }
    } else if (/^#add=\d{1,15}$/.test(hash)) {
      history.replaceState(null, "", window.location.pathname);
      var id = Number(hash.slice(5));
      if (indexOfPassage(load(), id) === -1) { page.offerPassage(id); }
    }
    this.fetchAndRender();
  };

  /* A passage offered by a link from the search widget: shown, added only on a click. */
  PackPage.prototype.offerPassage = function (id) {
    var page = this;
    this.offer.hidden = true;
    this.request({ title: "", items: [{ passage: id }] }, "json").then(function (body) {
      var item = body && body.items && body.items[0];
      if (!item || item.missing) {
        announce("That passage is no longer in the evidence base.");
        return;
      }
      var box = page.offer.querySelector(".pack-offer-body");
      box.textContent = "";
      box.appendChild(el("blockquote", "passage-text", item.passage.text));
      var cite = el("p", "cite-line");
      appendCitation(cite, item.citation.short);
      box.appendChild(cite);
      var add = page.offer.querySelector("#pack-offer-add");
      add.onclick = function () {
        var pack = load();
        if (addPassage(pack, id, null, item.citation.short)) {
          page.resolved[id] = item;
          page.offer.hidden = true;
          page.render();
          announce("Added to your pack.");
        }
      };
      page.offer.hidden = false;
      add.focus();
    });
  };

  PackPage.prototype.request = function (pack, format) {
    return window.fetch("/api/packs/render", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "omit",
      body: JSON.stringify({ title: pack.title, items: pack.items, format: format })
    }).then(function (response) {
      if (response.ok) { return format === "json" ? response.json() : response; }
      return response.json().then(function (body) { throw new Error(body.error); },
        function () { throw new Error("The server answered " + response.status + "."); });
    });
  };

  /* The API's form of the pack: ids, the myth they came from, headings, notes, title. */
  function apiItems(pack, withNotes) {
    return pack.items.map(function (item) {
      if (item.type === "heading") { return { heading: item.text }; }
      var out = { passage: item.id };
      if (item.myth) { out.myth = item.myth; }
      if (withNotes && item.note) { out.note = item.note; }
      return out;
    });
  }

  PackPage.prototype.fetchAndRender = function () {
    var page = this;
    var pack = load();
    this.render();
    if (!passageCount(pack)) { return; }
    // Only ids go for the preview: notes stay in the browser until a download.
    this.request({ title: "", items: apiItems(pack, false) }, "json").then(function (body) {
      page.resolved = {};
      page.gone = {};
      body.items.forEach(function (item) {
        if (item.missing) { page.gone[item.passage_id] = true; }
        if (item.passage) { page.resolved[item.passage.id] = item; }
      });
      page.render();
    }, function (error) {
      announce("The pack could not be shown: " + error.message);
    });
  };

  PackPage.prototype.render = function () {
    var pack = load();
    var focusKey = document.activeElement && document.activeElement.getAttribute("data-focus-key");
    this.title.value = pack.title;
    this.list.textContent = "";
    this.empty.hidden = pack.items.length > 0;
    this.tools.hidden = passageCount(pack) === 0;
    var page = this;
    var goneCount = 0;
    pack.items.forEach(function (item, index) {
      if (item.type === "passage" && page.gone[item.id]) { goneCount += 1; }
      page.list.appendChild(page.renderItem(pack, item, index));
    });
    this.missing.hidden = goneCount === 0;
    this.missing.textContent = goneCount === 1
      ? "1 passage in your pack is no longer in the evidence base (its document was removed or " +
        "replaced). Downloads leave it out and say so; you can remove it."
      : goneCount + " passages in your pack are no longer in the evidence base (their documents " +
        "were removed or replaced). Downloads leave them out and say so; you can remove them.";
    this.refreshShare(pack);
    updateButtons(pack);
    if (focusKey) {
      var again = this.list.querySelector("[data-focus-key='" + focusKey + "']");
      if (again) { again.focus(); }
    }
  };

  PackPage.prototype.refreshShare = function (pack) {
    this.shareField.value = passageCount(pack) ? shareLink(pack) : "";
  };

  PackPage.prototype.renderItem = function (pack, item, index) {
    var page = this;
    var li = el("li", "pack-item");
    var key = item.type === "heading" ? "h" + index : "p" + item.id;
    li.setAttribute("data-pack-key", key);
    var number = index + 1;
    if (item.type === "heading") {
      li.classList.add("pack-heading");
      var label = el("label", "pack-heading-label", "Heading");
      var input = el("input", "pack-heading-input");
      input.type = "text";
      input.id = "pack-heading-" + index;
      input.maxLength = MAX_HEADING;
      input.value = item.text;
      label.htmlFor = input.id;
      input.addEventListener("input", function () {
        var current = load();
        if (current.items[index] && current.items[index].type === "heading") {
          current.items[index].text = input.value.slice(0, MAX_HEADING);
          save(current);
          page.refreshShare(current);
        }
      });
      li.appendChild(label);
      li.appendChild(input);
    } else {
      var found = this.resolved[item.id];
      if (found) {
        if (found.myth) {
          var myth = el("p", "pack-myth");
          myth.appendChild(el("strong", null, "Myth: "));
          myth.appendChild(document.createTextNode("“" + found.myth.claim + "”"));
          li.appendChild(myth);
        }
        li.appendChild(el("blockquote", "passage-text", found.passage.text));
        var cite = el("p", "cite-line");
        appendCitation(cite, found.citation.short);
        li.appendChild(cite);
        var link = el("a", "context-link", "Read in context");
        link.href = found.url;
        li.appendChild(el("p")).appendChild(link);
      } else if (this.gone[item.id]) {
        li.classList.add("pack-gone");
        li.appendChild(el("p", "pack-gone-text", "This passage is no longer in the evidence base" +
          (item.label ? " (it was: " + item.label.replace(/\*/g, "") + ")" : "") + "."));
      } else {
        li.appendChild(el("p", "hint", item.label ? item.label.replace(/\*/g, "") : "Loading…"));
      }
      var noteId = "pack-note-" + item.id;
      var noteLabel = el("label", "pack-note-label", "Your note (optional)");
      noteLabel.htmlFor = noteId;
      var note = el("textarea", "pack-note");
      note.id = noteId;
      note.rows = 2;
      note.maxLength = MAX_NOTE;
      note.value = item.note || "";
      note.addEventListener("input", function () {
        var current = load();
        var at = indexOfPassage(current, item.id);
        if (at !== -1) { current.items[at].note = note.value.slice(0, MAX_NOTE); save(current); }
      });
      li.appendChild(noteLabel);
      li.appendChild(note);
    }
    var controls = el("div", "pack-controls");
    var what = item.type === "heading" ? "heading " + number : "item " + number;
    controls.appendChild(this.control("Move up", what, key + "-up", index === 0, function () {
      page.move(index, -1);
    }));
    controls.appendChild(this.control("Move down", what, key + "-down",
      index === pack.items.length - 1, function () { page.move(index, 1); }));
    controls.appendChild(this.control("Remove", what, key + "-remove", false, function () {
      var current = load();
      current.items.splice(index, 1);
      save(current);
      page.render();
      announce("Removed " + what + ".");
      var next = page.list.querySelectorAll(".pack-item")[Math.min(index, current.items.length - 1)];
      if (next) { next.querySelector("button").focus(); } else { page.title.focus(); }
    }));
    li.appendChild(controls);
    return li;
  };

  PackPage.prototype.control = function (label, what, focusKey, disabled, onClick) {
    var node = button(label, "pack-" + label.toLowerCase().replace(/\s+/g, "-"), onClick);
    node.appendChild(el("span", "visually-hidden", ": " + what));
    node.disabled = disabled;
    node.setAttribute("data-focus-key", focusKey);
    return node;
  };

  PackPage.prototype.move = function (index, step) {
    var pack = load();
    var to = index + step;
    if (to < 0 || to >= pack.items.length) { return; }
    var moved = pack.items.splice(index, 1)[0];
    pack.items.splice(to, 0, moved);
    save(pack);
    // Keep focus on the same control of the moved item (its key follows it).
    var key = moved.type === "heading" ? "h" + to : "p" + moved.id;
    this.render();
    var again = this.list.querySelector("[data-focus-key='" + key + (step < 0 ? "-up" : "-down") +
      "']");
    if (again && !again.disabled) { again.focus(); } else if (again) {
      again.parentNode.querySelector("button:not([disabled])").focus();
    }
    announce("Moved to position " + (to + 1) + " of " + pack.items.length + ".");
  };

  PackPage.prototype.addHeading = function () {
    var input = this.root.querySelector("#pack-new-heading");
    var text = input.value.trim().slice(0, MAX_HEADING);
    if (!text) { announce("Type the heading first."); input.focus(); return; }
    var pack = load();
    if (pack.items.length >= MAX_ITEMS) {
      announce("The pack is full: it holds at most " + MAX_ITEMS + " items.");
      return;
    }
    pack.items.push({ type: "heading", text: text });
    save(pack);
    input.value = "";
    this.render();
    announce("Heading added at the end; move it up to where it belongs.");
  };

  PackPage.prototype.download = function (format) {
    var page = this;
    var pack = load();
    var status = this.downloadStatus;
    status.textContent = "Preparing the file…";
    this.request({ title: pack.title, items: apiItems(pack, true) }, format).then(
      function (response) {
        var disposition = response.headers.get("Content-Disposition") || "";
        var match = /filename="([^"]+)"/.exec(disposition);
        var name = match ? match[1] : "evidence-pack." + format;
        return response.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var link = el("a");
          link.href = url;
          link.download = name;
          link.hidden = true;
          page.root.appendChild(link);
          link.click();
          link.remove();
          window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
          status.textContent = "Downloaded " + name + ".";
        });
      },
      function (error) { status.textContent = "The file could not be made: " + error.message; }
    );
  };

  document.addEventListener("DOMContentLoaded", function () {
    setUpAddButtons();
    var root = document.getElementById("pack-app");
    if (root) { new PackPage(root).start(); }
  });
})();

/* Evidence search widget: search the shared services evidence from any web page.
 *
 *   <div data-evidence-search data-base="https://kb.example.org"></div>
 *   <script src="https://kb.example.org/widget.js" async></script>
 *
 * Options, as data attributes on the element (see docs/widget.md):
 *   data-base         the knowledge base's address (default: where this script came from)
 *   data-label        the visible label of the search box (default "Search the evidence")
 *   data-placeholder  placeholder text in the box (default none)
 *   data-k            how many results, 1 to 50 (default 5)
 *   data-kind         only these kinds of document, e.g. "report" or "report case-study"
 *   data-tag          only documents with these tags, e.g. "savings"
 *   data-theme        light (default), dark, or auto (follows the visitor's setting)
 *   data-new-tab      present: result links open in a new tab
 *
 * No dependencies. It renders inside a Shadow DOM, so the page's styles cannot reach it and its
 * styles cannot leak out, and it builds every node from data with textContent (never HTML).
 * window.EvidenceSearch.init() sets up elements added to the page later. */
(function () {
  "use strict";

  var SELECTOR = "[data-evidence-search]";
  var DELAY_MS = 300;
  var MIN_CHARS = 3;
  var DEFAULT_K = 5;
  var MAX_K = 50;
  var MAX_CHARS = 500;
  var EXCERPT_CHARS = 240;
  // The same words as kb/matching.py's MATCH_NOTICES (the search page and `kb search`).
  var MATCH_NOTICES = {
    none: ["No close match", "Nothing in the evidence answers this closely. The nearest " +
      "passages are below; they may be about something else."],
    weak: ["Only a weak match", "Check that these passages answer your question."]
  };

  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var scriptBase = "";
  try {
    scriptBase = script && script.src ? new URL(".", script.src).href : "";
  } catch (ignore) { /* an unusual src: data-base is then needed */ }
  var count = 0;
  var sheet = null;

  var CSS = [
    ":host{display:block}",
    ".w{all:initial;display:block;box-sizing:border-box;font:16px/1.5 system-ui,-apple-system,",
    "'Segoe UI',Roboto,Arial,sans-serif;color:var(--ink);background:var(--paper);",
    "border:1px solid var(--line);border-radius:6px;padding:12px 14px;text-align:left;",
    "--ink:#1b1b1b;--paper:#fff;--muted:#505a5f;--line:#b1b4b6;--link:#1d4f91;",
    "--brand:#2b1a5c;--on-brand:#fff;--mark:#fff2a8;--focus:#ffbf47;--error:#b10e1e}",
    ".w.dark{--ink:#f3f2f1;--paper:#1b1d21;--muted:#b8bcc0;--line:#5f6368;--link:#9cc3ff;",
    "--brand:#c9b8ff;--on-brand:#14121c;--mark:#6b5400;--focus:#ffbf47;--error:#ff8a8a}",
    "@media (prefers-color-scheme:dark){.w.auto{--ink:#f3f2f1;--paper:#1b1d21;--muted:#b8bcc0;",
    "--line:#5f6368;--link:#9cc3ff;--brand:#c9b8ff;--on-brand:#14121c;--mark:#6b5400;",
    "--error:#ff8a8a}}",
    ".w *,.w *::before,.w *::after{box-sizing:border-box}",
    "label{display:block;font-weight:700;margin:0 0 6px}",
    ".row{display:flex;gap:8px}",
    "input{flex:1 1 auto;min-width:0;font:inherit;color:var(--ink);background:var(--paper);",
    "border:2px solid var(--ink);border-radius:4px;padding:6px 8px;margin:0}",
    "button{font:inherit;font-weight:600;color:var(--on-brand);background:var(--brand);",
    "border:2px solid var(--brand);border-radius:4px;padding:6px 14px;margin:0;cursor:pointer}",
    "input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--focus);",
    "outline-offset:2px;box-shadow:0 0 0 5px var(--ink)}",
    ".status{margin:8px 0 0;color:var(--muted);font-size:14px;min-height:1.5em}",
    ".status.error{color:var(--error);font-weight:600}",
    ".match{margin:8px 0 0;padding:6px 10px;border:2px solid var(--error);border-left-width:6px}",
    ".match.weak{border-color:var(--brand)}",
    "ol{list-style:none;margin:4px 0 0;padding:0}",
    "li{border-top:1px solid var(--line);padding:10px 0}",
    "blockquote{margin:0 0 4px;padding:0;quotes:none}",
    "mark{background:var(--mark);color:inherit;padding:0 1px;border-radius:2px}",
    "li p{margin:0 0 2px}",
    ".cite{color:var(--muted);font-size:14px}",
    ".source-line{font-size:14px}",
    "cite{font-style:italic}",
    "a{color:var(--link);text-underline-offset:.15em}",
    ".more{margin:8px 0 0;font-size:14px}",
    ".vh{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;",
    "clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    "[hidden]{display:none}"
  ].join("");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function words(value) {
    return (value || "").split(/[\s,]+/).filter(Boolean);
  }

  function httpBase(value) {
    try {
      var url = new URL(value, window.location.href);
      if (url.protocol !== "https:" && url.protocol !== "http:") { return ""; }
      return url.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
    } catch (ignore) {
      return "";
    }
  }

  function readOptions(host) {
    var data = host.dataset;
    var k = parseInt(data.k, 10);
    return {
      base: httpBase(data.base || scriptBase || window.location.origin),
      label: data.label || "Search the evidence",
      placeholder: data.placeholder || "",
      k: k >= 1 ? Math.min(k, MAX_K) : DEFAULT_K,
      kinds: words(data.kind),
      tags: words(data.tag),
      theme: data.theme === "dark" || data.theme === "auto" ? data.theme : "light",
      newTab: data.newTab !== undefined && data.newTab !== "false"
    };
  }

  function filterParams(options) {
    var out = "";
    options.kinds.forEach(function (kind) { out += "&kind=" + encodeURIComponent(kind); });
    options.tags.forEach(function (tag) { out += "&tag=" + encodeURIComponent(tag); });
    return out;
  }

  function addStyles(root) {
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        // A constructed sheet: no <style> element, so a strict page CSP cannot block it.
        if (!sheet) {
          sheet = new CSSStyleSheet();
          sheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (ignore) { /* older browsers: fall back to a <style> element */ }
    }
    root.appendChild(el("style", null, CSS));
  }

  /* The best sentence of a passage (or its start) and the matched terms inside it, as
   * [start, end] offsets in code points, which is how the API counts them. */
  function excerpt(chars, highlights) {
    var size = chars.length;
    var start = 0;
    var end = Math.min(size, EXCERPT_CHARS);
    var terms = [];
    var sentence = null;
    (highlights || []).forEach(function (span) {
      if (span && span.kind === "sentence" && !sentence && span.end > span.start) {
        sentence = span;
      }
    });
    if (sentence) {
      start = Math.max(0, Math.min(size, sentence.start));
      end = Math.max(start, Math.min(size, sentence.end));
    } else if (end < size) {
      var space = chars.lastIndexOf(" ", end);
      end = space > EXCERPT_CHARS / 2 ? space : end;
    }
    (highlights || []).forEach(function (span) {
      if (!span || span.kind === "sentence") { return; }
      var a = Math.max(start, span.start);
      var b = Math.min(end, span.end);
      if (a < b) { terms.push([a, b]); }
    });
    terms.sort(function (x, y) { return x[0] - y[0]; });
    var merged = [];
    terms.forEach(function (term) {
      var last = merged[merged.length - 1];
      if (last && term[0] <= last[1]) {
        last[1] = Math.max(last[1], term[1]);
      } else {
        merged.push(term);
      }
    });
    return { start: start, end: end, terms: merged };
  }

  function appendHighlighted(parent, text, highlights) {
    var chars = Array.from(text || "");
    var part = excerpt(chars, highlights);
    var at = part.start;
    function plain(a, b) {
      if (a < b) { parent.appendChild(document.createTextNode(chars.slice(a, b).join(""))); }
    }
    if (part.start > 0) { parent.appendChild(document.createTextNode("… ")); }
    part.terms.forEach(function (term) {
      plain(at, term[0]);
      parent.appendChild(el("mark", null, chars.slice(term[0], term[1]).join("")));
      at = term[1];
    });
    plain(at, part.end);
    if (part.end < chars.length) { parent.appendChild(document.createTextNode(" …")); }
  }

  /* ", p. 4", or ", pp. 9–11" when the page is known only to lie in a range (as kb.citations). */
  function pagesLabel(page, pageEnd) {
    if (!page) { return ""; }
    if (pageEnd && pageEnd !== page) { return ", pp. " + page + "\u2013" + pageEnd; }
    return ", p. " + page;
  }

  /* A citation whose *title* is between asterisks, with the title in <cite>. */
  function appendCitation(parent, citation) {
    var pieces = String(citation || "").split("*");
    if (pieces.length % 2 === 0) {
      parent.textContent = citation;
      return;
    }
    pieces.forEach(function (piece, index) {
      if (!piece) { return; }
      parent.appendChild(index % 2 ? el("cite", null, piece) : document.createTextNode(piece));
    });
  }

  function Widget(host, options) {
    var id = "evidence-search-" + (++count);
    var root = host.attachShadow({ mode: "open" });
    var timer = null;
    var controller = null;
    var sequence = 0;
    var shownQuery = null;

    addStyles(root);
    var box = el("div", "w " + options.theme);
    box.setAttribute("lang", "en-GB");
    var form = el("form");
    form.setAttribute("role", "search");
    form.setAttribute("novalidate", "");
    var label = el("label", null, options.label);
    label.htmlFor = id + "-q";
    var row = el("div", "row");
    var input = el("input");
    input.type = "search";
    input.id = id + "-q";
    input.name = "q";
    input.autocomplete = "off";
    input.maxLength = MAX_CHARS;
    if (options.placeholder) { input.placeholder = options.placeholder; }
    input.setAttribute("aria-describedby", id + "-hint");
    var button = el("button", null, "Search");
    button.type = "submit";
    var hint = el("p", "vh", "Results appear as you type. Use the arrow keys to move between " +
      "results and Escape to clear the search.");
    hint.id = id + "-hint";
    var status = el("p", "status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    // "No close match" / "Only a weak match" (the API's `match`), worded as on the search page.
    var notice = el("p", "match");
    notice.hidden = true;
    var list = el("ol");
    list.setAttribute("aria-label", "Results");
    list.hidden = true;
    var more = el("p", "more");
    var moreLink = el("a", null, "More results on the full site");
    more.appendChild(moreLink);
    more.hidden = true;

    row.appendChild(input);
    row.appendChild(button);
    form.appendChild(label);
    form.appendChild(row);
    form.appendChild(hint);
    box.appendChild(form);
    box.appendChild(status);
    box.appendChild(notice);
    box.appendChild(list);
    box.appendChild(more);
    root.appendChild(box);

    function say(message, isError) {
      status.textContent = message;
      status.className = isError ? "status error" : "status";
    }

    function openIn(link) {
      if (options.newTab) {
        link.target = "_blank";
        link.rel = "noopener";
      }
    }

    function clear(message) {
      window.clearTimeout(timer);
      sequence += 1;
      if (controller) { controller.abort(); }
      shownQuery = null;
      list.textContent = "";
      list.hidden = true;
      notice.hidden = true;
      more.hidden = true;
      say(message || "", false);
    }

    /* Links to the originals of the primary sources a passage cites (http(s) only). */
    function appendSources(item, sources) {
      (sources || []).forEach(function (source) {
        var url = String(source.url || "");
        if (!/^https?:\/\//i.test(url)) { return; }
        // A note says how we read it ("summarised by CAAF"): the link is to that page.
        var label = source.note
          ? "The page we read: " + source.who + " (" + source.year + "), " + source.note
          : "The original: " + source.who + " (" + source.year + ")";
        var link = el("a", "source", label);
        link.href = url;
        link.rel = "noopener noreferrer";
        if (options.newTab) {
          link.target = "_blank";
          link.appendChild(el("span", "vh", " (opens in a new tab)"));
        }
        var line = el("p", "source-line");
        line.appendChild(link);
        item.appendChild(line);
      });
    }

    function resultItem(hit) {
      var doc = hit.document || {};
      var item = el("li");
      var quote = el("blockquote");
      appendHighlighted(quote, hit.text, hit.highlights);
      var cite = el("p", "cite");
      appendCitation(cite, (hit.citation && hit.citation.short) || doc.title);
      item.appendChild(quote);
      item.appendChild(cite);
      appendSources(item, hit.sources);
      var path = String(hit.url || "");
      if (path.charAt(0) === "/" && path.charAt(1) !== "/") {
        var link = el("a", "passage", "Read the passage");
        link.href = options.base + path;
        var where = (doc.title ? " in " + doc.title : "") + pagesLabel(hit.page, hit.page_end);
        link.appendChild(el("span", "vh", where + (options.newTab ? " (opens in a new tab)" : "")));
        openIn(link);
        var line = el("p");
        line.appendChild(link);
        if (typeof hit.id === "number") {
          // The full site's pack page, with this passage offered to add (web/static/pack.js).
          var add = el("a", "passage", "Add to your evidence pack");
          add.href = options.base + "/pack#add=" + hit.id;
          add.appendChild(el("span", "vh", options.newTab ? " (opens in a new tab)" : ""));
          openIn(add);
          line.appendChild(document.createTextNode(" · "));
          line.appendChild(add);
        }
        item.appendChild(line);
      }
      return item;
    }

    function showMatch(match, hasHits) {
      var words = MATCH_NOTICES[match];
      notice.textContent = "";
      notice.hidden = !(words && hasHits);
      if (notice.hidden) { return; }
      notice.className = "match " + match;
      notice.appendChild(el("strong", null, words[0] + "."));
      notice.appendChild(document.createTextNode(" " + words[1]));
    }

    function show(query, hits, match) {
      showMatch(match, hits.length > 0);
      list.textContent = "";
      hits.forEach(function (hit) { list.appendChild(resultItem(hit)); });
      list.hidden = hits.length === 0;
      moreLink.href = options.base + "/?q=" + encodeURIComponent(query) + filterParams(options);
      openIn(moreLink);
      more.hidden = false;
      shownQuery = query;
      var n = hits.length;
      say(n ? n + (n === 1 ? " result" : " results") + " for “" + query + "”."
        : "No results for “" + query + "”. Try other words.", false);
    }

    function search(query) {
      window.clearTimeout(timer);
      if (!options.base) {
        say("This search box has no valid data-base address.", true);
        return;
      }
      if (query === shownQuery) { return; }
      sequence += 1;
      var mine = sequence;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var url = options.base + "/api/search?q=" + encodeURIComponent(query) +
        "&k=" + options.k + filterParams(options);
      say("Searching…", false);
      window.fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "omit",
        mode: "cors",
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            var failure = new Error(body.error || "The search failed (" + response.status + ").");
            failure.fromServer = true;
            throw failure;
          }
          return body;
        });
      }).then(function (body) {
        if (mine === sequence) { show(query, body.results || [], body.match); }
      }).catch(function (error) {
        if (mine !== sequence || error.name === "AbortError") { return; }
        shownQuery = null;
        list.textContent = "";
        list.hidden = true;
        notice.hidden = true;
        more.hidden = true;
        say(error.fromServer ? error.message
          : "The evidence search could not be reached; please try again later.", true);
      });
    }

    function links() {
      return Array.prototype.filter.call(box.querySelectorAll("a[href]"), function (link) {
        return !link.closest("[hidden]");
      });
    }

    function move(from, step) {
      var all = links();
      var at = all.indexOf(from);
      var next = at + step;
      if (step === Infinity) { next = all.length - 1; }
      if (step === -Infinity) { next = 0; }
      if (next < 0) {
        input.focus();
      } else if (next < all.length) {
        all[next].focus();
      }
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      var query = input.value.trim();
      if (!query) {
        clear("");
      } else if (query.length < MIN_CHARS) {
        say("Type at least " + MIN_CHARS + " characters to search.", false);
      } else {
        timer = window.setTimeout(function () { search(query); }, DELAY_MS);
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var query = input.value.trim();
      if (query) {
        search(query);
      } else {
        say("Type some words to search for.", false);
      }
    });

    box.addEventListener("keydown", function (event) {
      var target = event.target;
      var key = event.key;
      if (key === "Escape" || key === "Esc") {
        if (input.value || !list.hidden || status.textContent) {
          event.preventDefault();
          input.value = "";
          clear("Search cleared.");
          input.focus();
        }
        return;
      }
      if (target === input) {
        if (key === "ArrowDown" && links().length) {
          event.preventDefault();
          move(null, 1);
        }
        return;
      }
      if (target.tagName !== "A") { return; }
      var steps = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
      if (steps[key] !== undefined) {
        event.preventDefault();
        move(target, steps[key]);
      }
    });

    if (!options.base) { say("This search box has no valid data-base address.", true); }
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(SELECTOR), function (host) {
      if (host.shadowRoot || host.hasAttribute("data-evidence-search-ready")) { return; }
      host.setAttribute("data-evidence-search-ready", "");
      new Widget(host, readOptions(host));
    });
  }

  window.EvidenceSearch = { init: init };
  init();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  }
})();

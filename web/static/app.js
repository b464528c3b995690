/* Progressive enhancement only: every page works without this file.
 * - "Copy citation" buttons (hidden until this runs) copy via the Clipboard API; when that is
 *   unavailable the readonly field is selected so the person can copy it by hand.
 * - In the reader, the passage named by the URL fragment (or ?highlight=) is scrolled into
 *   view and focused, so keyboard and screen-reader users land on it too. */
(function () {
  "use strict";

  function announce(message) {
    var status = document.getElementById("live-status");
    if (!status) { return; }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function selectField(field) {
    field.focus();
    field.select();
    announce("The citation is selected: press Ctrl+C (or Command+C) to copy it.");
  }

  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    announce("Citation copied.");
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function setUpCopy(button) {
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          function () { copied(button); },
          function () { selectField(field); }
        );
      } else {
        selectField(field);
      }
    });
    field.addEventListener("focus", function () { field.select(); });
  }

  function targetedPassage() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (/^p\d+$/.test(id)) {
      return document.getElementById(id);
    }
    return document.querySelector(".passage.is-highlighted");
  }

  function focusTarget() {
    var passage = targetedPassage();
    if (!passage) { return; }
    passage.setAttribute("tabindex", "-1");
    passage.scrollIntoView({ block: "center" });
    passage.focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".copy-button"), setUpCopy);
    focusTarget();
  });
  window.addEventListener("hashchange", focusTarget);
})();

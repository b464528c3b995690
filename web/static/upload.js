/* The upload page with several files: each chosen file gets its own details (title, publisher,
 * year, kind, tags, source), the first four prefilled from what the file states where the
 * researcher has not filled them in yet (POST data-details-url, which stores nothing) for the
 * researcher to check, and its own progress line once added. Each file
 * is posted on its own, asking for JSON: a refusal is shown on that file's line, in the
 * server's sentence, and the others go ahead. Without this script the page is a form for one
 * file, as before. Needs admin.js (kbJobs.follow, kbJobs.requestJson). */
(function () {
  "use strict";

  var PREFILLED = ["title", "publisher", "year", "kind"];

  function start() {
    var form = document.getElementById("upload-form");
    if (!form || !window.FormData || !window.kbJobs) { return; }
    var input = document.getElementById("file");
    var pattern = form.querySelector("fieldset.fields");
    var list = document.getElementById("upload-items");
    var notice = document.getElementById("upload-notice");
    var token = form.querySelector("input[name=csrf_token]").value;
    var items = [];
    var count = 0;

    // The page's own fields become the pattern each file's fields are copied from.
    pattern.hidden = true;
    setDisabled(pattern, true);
    input.required = false;
    input.multiple = true;
    document.getElementById("file-hint").textContent +=
      " Choose several files at once if you like: each gets its own details.";

    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) { items.push(add(file)); });
      input.value = "";
      notice.textContent = "";
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var waiting = items.filter(function (item) {
        return item.state === "ready" || item.state === "reading" || item.state === "failed";
      });
      if (!waiting.length) {
        notice.textContent = items.length ? "Every file here has been sent already."
                                          : "Choose a file to upload.";
        return;
      }
      if (!form.reportValidity()) { return; }
      send(waiting, 0);
    });

    function add(file) {
      count += 1;
      var n = count;
      var fieldset = pattern.cloneNode(true);
      fieldset.hidden = false;
      fieldset.id = "item-" + n;
      fieldset.className = "fields upload-item";
      setDisabled(fieldset, false);
      Array.prototype.forEach.call(fieldset.querySelectorAll("[id]"), function (el) {
        el.id = el.id + "-" + n;
      });
      Array.prototype.forEach.call(fieldset.querySelectorAll("label[for]"), function (el) {
        el.htmlFor = el.htmlFor + "-" + n;
      });
      Array.prototype.forEach.call(fieldset.querySelectorAll("[aria-describedby]"), function (el) {
        el.setAttribute("aria-describedby", el.getAttribute("aria-describedby") + "-" + n);
      });
      fieldset.querySelector("legend").textContent = file.name;
      var status = document.createElement("p");
      status.className = "item-status";
      status.id = "item-" + n + "-status";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      status.textContent = "Reading the details the file states\u2026";
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.hidden = true;
      bar.id = "item-" + n + "-progress";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button secondary item-remove";
      remove.textContent = "Leave this file out";
      fieldset.appendChild(status);
      fieldset.appendChild(bar);
      fieldset.appendChild(remove);
      list.appendChild(fieldset);
      fieldset.addEventListener("change", function (event) {
        event.target.setAttribute("data-touched", "");
      });
      var item = { file: file, fieldset: fieldset, status: status, bar: bar, state: "reading" };
      remove.addEventListener("click", function () {
        items.splice(items.indexOf(item), 1);
        list.removeChild(fieldset);
      });
      readDetails(item);
      return item;
    }

    function field(item, name) {
      return item.fieldset.querySelector("[name=" + name + "]");
    }

    function readDetails(item) {
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("file", item.file, item.file.name);
      post(form.getAttribute("data-details-url"), data, function (status, body) {
        if (item.state !== "reading") { return; }
        if (status !== 200) {
          refuse(item, "refused", body);
          return;
        }
        PREFILLED.forEach(function (name) {
          var control = field(item, name);
          if (body[name] && untouched(control)) {
            control.value = body[name];
            control.setAttribute("data-prefilled", "");
          }
        });
        item.state = "ready";
        item.status.textContent = body.message;
      });
    }

    function refuse(item, state, body) {
      item.state = state;
      item.fieldset.classList.add("item-" + state);
      item.status.textContent = body.error;
      if (state === "refused") { setDisabled(item.fieldset, true); }
      if (body.document_url) {
        var link = document.createElement("a");
        link.href = body.document_url;
        link.textContent = " See it.";
        item.status.appendChild(link);
      }
    }

    function send(waiting, index) {
      if (index >= waiting.length) { return; }
      var item = waiting[index];
      var data = new FormData();
      data.append("csrf_token", token);
      Array.prototype.forEach.call(item.fieldset.querySelectorAll("[name]"), function (el) {
        data.append(el.name, el.value);
      });
      data.append("file", item.file, item.file.name);
      item.state = "sending";
      item.fieldset.classList.remove("item-failed");
      item.status.textContent = "Sending " + item.file.name + "\u2026";
      post(form.getAttribute("action"), data, function (status, body) {
        if (status === 202) {
          accept(item, body);
        } else {
          refuse(item, "failed", body);
        }
        send(waiting, index + 1);
      });
    }

    function accept(item, job) {
      item.state = "accepted";
      setDisabled(item.fieldset, true, true);
      item.fieldset.classList.add("item-accepted");
      item.bar.hidden = false;
      var show = function (job) {
        item.bar.value = job.percent;
        item.bar.textContent = job.percent + "%";
        item.status.textContent = job.summary;
        item.fieldset.classList.toggle("item-done", job.status === "done");
        item.fieldset.classList.toggle("item-failed", job.status === "failed");
        if (job.status === "done" && job.document_url) {
          var link = document.createElement("a");
          link.href = job.document_url;
          link.textContent = " Read it.";
          item.status.appendChild(link);
        }
      };
      show(job);
      window.kbJobs.follow(job.job_url, show, function (message) {
        item.status.textContent = message;
      });
    }
  }

  // A field the researcher has not filled in yet: empty, or a list still on its default.
  function untouched(control) {
    if (control.hasAttribute("data-touched")) { return false; }
    if (control.tagName === "SELECT") {
      return control.selectedIndex < 0 || control.options[control.selectedIndex].defaultSelected;
    }
    return !control.value;
  }

  function setDisabled(fieldset, disabled, buttons) {
    Array.prototype.forEach.call(fieldset.querySelectorAll("input, select, textarea, button"),
      function (el) {
        if (el.tagName !== "BUTTON" || buttons) { el.disabled = disabled; }
      });
  }

  function post(url, data, done) {
    window.kbJobs.requestJson("POST", url, data, function (status, body) {
      done(status, body || { error: "The server did not answer as expected (status " +
                                    status + "); try again." });
    }, function () {
      done(0, { error: "The server could not be reached; check the connection and try again." });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

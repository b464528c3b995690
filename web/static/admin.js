/* The upload progress page: polls the job's JSON (data-job-url) until it finishes, updating
 * the progress bar and the sentence under it (a live region, so screen readers hear it).
 * Without this file the page still shows the state it was served with and a reload link. */
(function () {
  "use strict";

  var INTERVAL_MS = 700;
  var MAX_INTERVAL_MS = 5000;

  function show(section, job) {
    var bar = document.getElementById("job-progress");
    var summary = document.getElementById("job-summary");
    var done = document.getElementById("job-done");
    var link = document.getElementById("job-document");
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    if (summary.textContent !== job.summary) {
      summary.textContent = job.summary;
    }
    section.className = "job job-" + job.status;
    if (job.status === "done") {
      if (job.document_url) { link.href = job.document_url; }
      done.hidden = false;
    }
  }

  function poll(section, url, delay) {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      var job;
      try { job = JSON.parse(request.responseText); } catch (e) { job = null; }
      if (request.status === 200 && job) {
        show(section, job);
        if (!job.finished) {
          window.setTimeout(function () { poll(section, url, INTERVAL_MS); }, INTERVAL_MS);
        }
        return;
      }
      // 401 (the session ended) and other errors carry {"error": "..."}: say it and stop.
      document.getElementById("job-summary").textContent =
        (job && job.error) || "The progress could not be read; reload the page.";
    };
    request.onerror = function () {
      // The server may be restarting: try again, less often.
      var next = Math.min(delay * 2, MAX_INTERVAL_MS);
      window.setTimeout(function () { poll(section, url, next); }, next);
    };
    request.send();
  }

  function start() {
    var section = document.getElementById("job");
    if (!section) { return; }
    if (!/\bjob-(queued|running)\b/.test(section.className)) { return; }
    poll(section, section.getAttribute("data-job-url"), INTERVAL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

/* Following upload jobs: `kbJobs.follow(url, onUpdate, onError)` polls a job's JSON until it
 * finishes, calling onUpdate(job) at each answer; `kbJobs.requestJson` is the one JSON request
 * both it and the upload page's posts (upload.js) make. The progress page uses it for its one job
 * (data-job-url), updating the progress bar and the sentence under it (a live region, so
 * screen readers hear it); the upload page's script (upload.js) for one line per file.
 * Without this file the progress page still shows the state it was served with and a reload
 * link. */
(function () {
  "use strict";

  var INTERVAL_MS = 700;
  var MAX_INTERVAL_MS = 5000;

  /* One request answered in JSON: onAnswer(status, body), body null when the answer is not
   * JSON; onUnreachable() when no answer came at all. */
  function requestJson(method, url, data, onAnswer, onUnreachable) {
    var request = new XMLHttpRequest();
    request.open(method, url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      var body;
      try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
      onAnswer(request.status, body);
    };
    request.onerror = onUnreachable;
    request.send(data);
  }

  function follow(url, onUpdate, onError, delay) {
    requestJson("GET", url, null, function (status, job) {
      if (status === 200 && job) {
        onUpdate(job);
        if (!job.finished) {
          window.setTimeout(function () { follow(url, onUpdate, onError, INTERVAL_MS); },
                            INTERVAL_MS);
        }
        return;
      }
      // 401 (the session ended) and other errors carry {"error": "..."}: say it and stop.
      onError((job && job.error) || "The progress could not be read; reload the page.");
    }, function () {
      // The server may be restarting: try again, less often.
      var next = Math.min((delay || INTERVAL_MS) * 2, MAX_INTERVAL_MS);
      window.setTimeout(function () { follow(url, onUpdate, onError, next); }, next);
    });
  }

  window.kbJobs = { follow: follow, requestJson: requestJson };

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

  function start() {
    var section = document.getElementById("job");
    if (!section) { return; }
    if (!/\bjob-(queued|running)\b/.test(section.className)) { return; }
    follow(section.getAttribute("data-job-url"),
           function (job) { show(section, job); },
           function (message) { document.getElementById("job-summary").textContent = message; });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

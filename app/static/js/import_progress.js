// Polls an import's status and updates the progress bar; reloads the page when done.
(function () {
  "use strict";
  var box = document.getElementById("import-status");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var format = function (n) { return Number(n).toLocaleString("en"); };

  function show(status) {
    if (bar) {
      bar.max = Math.max(status.total, 1);
      bar.value = status.processed;
    }
    if (text) {
      text.textContent = format(status.processed) + " of about " + format(status.total) + " lines";
    }
    var counts = status.counts;
    counts.total = status.total;
    Object.keys(counts).forEach(function (name) {
      var cell = box.querySelector('[data-count="' + name + '"]');
      if (cell) { cell.textContent = format(counts[name]); }
    });
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        show(status);
        if (status.status === "completed" || status.status === "failed") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();

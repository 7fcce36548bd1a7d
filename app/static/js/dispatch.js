// Live progress of a dispatch: polls the JSON API and refreshes counts and the chart.
(function () {
  "use strict";
  var root = document.getElementById("dispatch-live");
  if (!root) { return; }
  var progressUrl = root.getAttribute("data-progress-url");
  var chartUrl = root.getAttribute("data-chart-url");
  var bar = document.getElementById("dispatch-bar");
  var chart = document.getElementById("dispatch-chart");

  function setField(name, value) {
    var node = root.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = String(value); }
  }

  function render(data) {
    setField("state", data.state);
    setField("final", data.final);
    setField("total", data.total);
    setField("percent", data.percent);
    var badge = root.querySelector('[data-field="state"]');
    if (badge) { badge.className = "badge state-" + data.state; }
    if (bar) { bar.max = data.total; bar.value = data.final; }
    Object.keys(data.by_channel).forEach(function (channel) {
      var counts = data.by_channel[channel];
      root.querySelectorAll('[data-count^="' + channel + ':"]').forEach(function (cell) {
        var status = cell.getAttribute("data-count").split(":")[1];
        cell.textContent = String(counts[status] || 0);
      });
    });
    if (chart) { chart.src = chartUrl + "?t=" + Date.now(); }
    return data.finished || data.dispatch_state === "cancelled";
  }

  function poll() {
    fetch(progressUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) { if (!render(data)) { window.setTimeout(poll, 2000); } })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 2000);
})();

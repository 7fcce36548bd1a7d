// Settlement pages: "select all" for the bulk confirm / dispute form.
(function () {
  "use strict";
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.closest("form");
      if (!form) { return; }
      form.querySelectorAll("input.select-row").forEach(function (row) {
        row.checked = box.checked;
      });
    });
  });
})();

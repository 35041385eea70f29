// Bulk labelling: select rows (or everything matching) and keep the count visible.
(function () {
  "use strict";
  const rows = Array.from(document.querySelectorAll(".row-check"));
  const all = document.getElementById("select-page");
  const count = document.getElementById("selected-count");
  function update() {
    const n = rows.filter((row) => row.checked).length;
    count.textContent = String(n);
    all.checked = n > 0 && n === rows.length;
    all.indeterminate = n > 0 && n < rows.length;
  }
  all.addEventListener("change", () => {
    rows.forEach((row) => (row.checked = all.checked));
    update();
  });
  rows.forEach((row) => row.addEventListener("change", update));
  update();
})();

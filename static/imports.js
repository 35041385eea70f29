// While an import is queued or running, reload the page every few seconds to show its progress,
// unless someone has started filling in the upload form (a reload would lose the chosen file).
(function () {
  const table = document.getElementById("imports");
  const form = document.getElementById("import-form");
  if (!table || table.dataset.active !== "true" || !form) return;
  let touched = false;
  form.addEventListener("input", () => { touched = true; });
  form.addEventListener("change", () => { touched = true; });
  setInterval(() => { if (!touched) window.location.reload(); }, 3000);
})();

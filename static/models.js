// Macro-F1 of every evaluated model version (Plotly from the plotly wheel).
(function () {
  "use strict";
  function draw() {
    const data = JSON.parse(document.getElementById("f1-data").textContent);
    const el = document.getElementById("chart-f1");
    if (!data.names.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No evaluated versions yet: train one on the Jobs page.";
      el.appendChild(p);
      return;
    }
    const colors = data.stages.map((s) => ({ champion: "#2e7d32", rejected: "#c62828", archived: "#78909c" })[s] || "#1565c0");
    Plotly.newPlot(
      el,
      [{ type: "scatter", mode: "lines+markers", x: data.names, y: data.macro_f1, marker: { color: colors, size: 10 }, line: { color: "#90a4ae" }, hovertemplate: "%{x}: %{y:.3f}<extra></extra>" }],
      { margin: { t: 10, r: 10, b: 80, l: 50 }, height: 300, yaxis: { title: { text: "macro-F1" }, rangemode: "tozero" }, font: { family: "system-ui, sans-serif", size: 12 } },
      { responsive: true, displaylogo: false },
    );
  }
  if (window.Plotly) draw();
  else window.addEventListener("load", draw);
})();

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
      {
        // Version names are long: automargin grows the margins to fit the tick labels and the axis titles,
        // so nothing is cut off; the fixed margins are only the minimum.
        margin: { t: 10, r: 20, b: 20, l: 20 },
        height: 340,
        xaxis: { title: { text: "Model version", standoff: 12 }, automargin: true, tickangle: -30 },
        yaxis: { title: { text: "Macro-F1", standoff: 10 }, rangemode: "tozero", automargin: true },
        font: { family: "system-ui, sans-serif", size: 12 },
      },
      { responsive: true, displaylogo: false },
    );
  }
  if (window.Plotly) draw();
  else window.addEventListener("load", draw);
})();

// Macro-F1 of every evaluated model version and the install's learning curve (Plotly from the plotly wheel).
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
  // The learning curve: accuracy on held-out human labels against the human labels each model learned from.
  function drawLearning() {
    const curve = JSON.parse(document.getElementById("learning-data").textContent);
    const el = document.getElementById("chart-learning");
    if (!curve.human.length && !curve.rated.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No trained sentiment model yet.";
      el.appendChild(p);
      return;
    }
    const hover = "%{customdata[0]}<br>%{x:,} human labels: accuracy %{y:.3f}<br>scored on %{customdata[1]} reviews, %{customdata[2]}<extra></extra>";
    const points = (rows, name, symbol) => ({
      type: "scatter", mode: "markers", name: name,
      x: rows.map((p) => p.labels), y: rows.map((p) => p.accuracy),
      customdata: rows.map((p) => [p.name, p.evaluated_on, p.date]),
      marker: { size: 10, symbol: symbol, color: "#1565c0" }, hovertemplate: hover,
    });
    const traces = [points(curve.human, "held-out human labels", "circle"), points(curve.rated, "star ratings (too few human labels held out)", "circle-open")];
    if (curve.fit) {
      // The fitted log curve from the fewest labels up to 4x the latest count: where the next points should land.
      const low = Math.max(1, Math.min(...curve.human.map((p) => p.labels).filter((n) => n > 0)));
      const high = curve.fit.latest_labels * 4;
      const xs = Array.from({ length: 40 }, (_, i) => Math.round(low * Math.pow(high / low, i / 39)));
      traces.push({
        type: "scatter", mode: "lines", name: "fit: accuracy = a + b ln(labels)", x: xs,
        y: xs.map((n) => curve.fit.intercept + curve.fit.slope * Math.log(n)),
        line: { dash: "dash", color: "#90a4ae" }, hoverinfo: "skip",
      });
    }
    Plotly.newPlot(
      el,
      traces,
      {
        margin: { t: 10, r: 20, b: 20, l: 20 },
        height: 320,
        xaxis: { title: { text: "Human labels the model learned from", standoff: 12 }, automargin: true, rangemode: "tozero" },
        yaxis: { title: { text: "Accuracy", standoff: 10 }, automargin: true },
        legend: { orientation: "h", y: -0.3 },
        font: { family: "system-ui, sans-serif", size: 12 },
      },
      { responsive: true, displaylogo: false },
    );
  }
  function drawAll() {
    draw();
    drawLearning();
  }
  if (window.Plotly) drawAll();
  else window.addEventListener("load", drawAll);
})();

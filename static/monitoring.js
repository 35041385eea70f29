// Monitoring charts: Plotly (served from the plotly wheel) over the stored snapshot time series.
(function () {
  "use strict";
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const base = (extra) =>
    Object.assign({ margin: { t: 10, r: 10, b: 50, l: 55 }, height: 320, legend: { orientation: "h", y: -0.2 }, font: { family: "system-ui, sans-serif", size: 12 }, hovermode: "x unified" }, extra || {});
  const threshold = (y, color, text) => ({
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { color: color, width: 1.5, dash: "dash" } }],
    annotations: [{ xref: "paper", x: 1, y: y, xanchor: "right", yanchor: "bottom", text: text, showarrow: false, font: { color: color, size: 11 } }],
  });

  function empty(id, text) {
    const el = document.getElementById(id);
    el.replaceChildren();
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    el.appendChild(p);
  }

  const has = (values) => values.some((v) => v !== null && v !== undefined);
  const line = (name, x, y, color, extra) =>
    Object.assign({ type: "scatter", mode: "lines+markers", name: name, x: x, y: y, line: { color: color, width: 2 }, marker: { size: 5 }, connectgaps: false }, extra || {});

  function accuracy(d) {
    if (!has(d.accuracy) && !has(d.agreement)) return empty("chart-accuracy", "No human labels or rated reviews in any monitoring window yet.");
    const x = d.times;
    const traces = [
      { type: "scatter", mode: "lines", name: "95% CI low", x: x, y: d.ci_low, line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { type: "scatter", mode: "lines", name: "95% CI", x: x, y: d.ci_high, fill: "tonexty", fillcolor: "rgba(46,125,50,.15)", line: { width: 0 }, hoverinfo: "skip" },
      line("all labels", x, d.accuracy, "#2e7d32", { customdata: d.accuracy_n, hovertemplate: "%{y:.3f} (n=%{customdata})<extra>all labels</extra>" }),
      line("blind labels", x, d.blind, "#1565c0", { customdata: d.blind_n, hovertemplate: "%{y:.3f} (n=%{customdata})<extra>blind labels</extra>" }),
      line("agreement with stars", x, d.agreement, "#8d6e63", { line: { color: "#8d6e63", width: 1.5, dash: "dot" }, hovertemplate: "%{y:.3f}<extra>agreement with stars</extra>" }),
    ];
    const layout = base(threshold(d.thresholds.accuracy, "#c62828", "retrain below " + d.thresholds.accuracy));
    layout.yaxis = { title: { text: "accuracy" }, range: [0, 1.02] };
    Plotly.newPlot("chart-accuracy", traces, layout, CONFIG);
  }

  function drift(d) {
    if (!has(d.prediction_psi) && !has(d.confidence_psi)) return empty("chart-drift", "No drift measured yet: it needs a deployed model with reference statistics and new predictions.");
    const x = d.times;
    const traces = [
      line("prediction PSI", x, d.prediction_psi, "#6a1b9a", { customdata: d.predictions, hovertemplate: "%{y:.3f} (n=%{customdata})<extra>prediction PSI</extra>" }),
      line("confidence PSI", x, d.confidence_psi, "#ef6c00", { hovertemplate: "%{y:.3f}<extra>confidence PSI</extra>" }),
    ];
    const top = Math.max(d.thresholds.psi * 1.5, ...d.prediction_psi.concat(d.confidence_psi).filter((v) => v !== null && v !== undefined));
    const layout = base(threshold(d.thresholds.psi, "#c62828", "alarm over " + d.thresholds.psi));
    layout.yaxis = { title: { text: "PSI" }, range: [0, top * 1.1] };
    Plotly.newPlot("chart-drift", traces, layout, CONFIG);
  }

  function oov(d) {
    if (!has(d.oov_rate)) return empty("chart-oov", "No out-of-vocabulary rate measured yet: it needs a model with a stored vocabulary and new reviews.");
    const x = d.times;
    const traces = [
      line("new reviews", x, d.oov_rate, "#00838f", { hovertemplate: "%{y:.3f}<extra>new reviews</extra>" }),
      line("at training", x, d.oov_reference, "#78909c", { mode: "lines", line: { color: "#78909c", width: 1.5, dash: "dash" }, hovertemplate: "%{y:.3f}<extra>at training</extra>" }),
    ];
    const layout = base();
    layout.yaxis = { title: { text: "out-of-vocabulary share" }, rangemode: "tozero", tickformat: ".0%" };
    Plotly.newPlot("chart-oov", traces, layout, CONFIG);
  }

  function draw() {
    const data = JSON.parse(document.getElementById("monitoring-data").textContent);
    if (!data.times.length) return;
    accuracy(data);
    drift(data);
    oov(data);
  }

  if (window.Plotly) draw();
  else window.addEventListener("load", draw);
})();

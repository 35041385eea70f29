// Dashboard charts: Plotly (served from the plotly wheel) drawing data the page embeds.
(function () {
  "use strict";
  const COLORS = { positive: "#2e7d32", neutral: "#c49a00", negative: "#c62828" };
  const LABELS = ["positive", "neutral", "negative"];
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  // Plotly renders a subset of HTML in labels and hover text (<a href>, <span style>, <b>, ...), and
  // decodes entities after it has looked for tags: names from reviews go in with & < > as entities,
  // so Plotly shows them as the text they are.
  const plotlyText = (value) => String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const base = (extra) =>
    Object.assign({ margin: { t: 10, r: 10, b: 50, l: 50 }, height: 320, legend: { orientation: "h", y: -0.2 }, font: { family: "system-ui, sans-serif", size: 12 } }, extra || {});

  function empty(id, text) {
    const el = document.getElementById(id);
    el.replaceChildren();
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    el.appendChild(p);
  }

  function stacked(id, data, horizontal) {
    if (!data.names.length) return empty(id, "No reviews in this scope.");
    const names = data.names.map(plotlyText);
    const traces = LABELS.map((label) => ({
      type: "bar",
      name: label,
      marker: { color: COLORS[label] },
      x: horizontal ? data[label] : names,
      y: horizontal ? names : data[label],
      orientation: horizontal ? "h" : "v",
    }));
    const layout = base({ barmode: "stack" });
    if (horizontal) {
      layout.margin.l = 140;
      layout.yaxis = { autorange: "reversed", automargin: true };
    }
    Plotly.newPlot(id, traces, layout, CONFIG);
  }

  function draw() {
    const data = JSON.parse(document.getElementById("chart-data").textContent);
    const d = data.distribution;
    if (!d.total) empty("chart-distribution", "No reviews in this period.");
    else Plotly.newPlot(
      "chart-distribution",
      [
        { type: "bar", name: "Predicted", x: d.labels, y: d.predicted, marker: { color: d.labels.map((l) => COLORS[l]) } },
        { type: "bar", name: "Human label", x: d.labels, y: d.human, marker: { color: "#90a4ae" } },
      ],
      base({ barmode: "group" }),
      CONFIG,
    );
    const t = data.trend;
    if (!t.periods.length) empty("chart-trend", "No reviews in this period.");
    else {
      const traces = LABELS.map((label) => ({
        type: "scatter",
        mode: "lines",
        stackgroup: "share",
        groupnorm: "percent",
        name: label + " %",
        x: t.periods,
        y: t[label],
        line: { color: COLORS[label], width: 1 },
      }));
      traces.push({ type: "bar", name: "volume", x: t.periods, y: t.total, yaxis: "y2", marker: { color: "rgba(96,125,139,.35)" } });
      Plotly.newPlot(
        "chart-trend",
        traces,
        base({ yaxis: { title: { text: "share %" }, range: [0, 100] }, yaxis2: { title: { text: "reviews" }, overlaying: "y", side: "right", showgrid: false }, margin: { t: 10, r: 50, b: 50, l: 50 } }),
        CONFIG,
      );
    }
    stacked("chart-source", data.by_source, false);
    stacked("chart-business", data.by_business, true);
    const r = data.rating_vs_predicted;
    // With no rated, predicted review the heatmap would be one solid colour on a made-up scale.
    if (!r.z.some((row) => row.some((n) => n > 0))) empty("chart-rating", "No reviews with both a star rating and a prediction in this period.");
    else Plotly.newPlot(
      "chart-rating",
      [{ type: "heatmap", x: r.ratings.map((v) => v + "★"), y: r.labels, z: r.z, colorscale: "Greens", reversescale: true, hovertemplate: "%{x}, predicted %{y}: %{z}<extra></extra>" }],
      base({ xaxis: { title: { text: "stars" } }, margin: { t: 10, r: 10, b: 50, l: 80 } }),
      CONFIG,
    );
    loadThemes();
  }

  async function loadThemes() {
    const el = document.getElementById("chart-themes");
    if (!el) return; // not shown to users who may not read reviews
    try {
      const response = await fetch(el.dataset.src, { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const themes = (await response.json()).themes;
      if (!themes.terms.length) return empty("chart-themes", "No criticism or suggestions among the newest " + themes.analysed_reviews + " reviews.");
      el.replaceChildren();
      const terms = themes.terms.map(plotlyText);
      Plotly.newPlot(
        "chart-themes",
        [
          { type: "bar", orientation: "h", name: "in criticism", y: terms, x: themes.criticism, marker: { color: COLORS.negative } },
          { type: "bar", orientation: "h", name: "in suggestions", y: terms, x: themes.suggestions, marker: { color: "#1565c0" } },
        ],
        base({ barmode: "stack", yaxis: { autorange: "reversed", automargin: true } }),
        CONFIG,
      );
    } catch (error) {
      empty("chart-themes", "Could not load the themes (" + error.message + ").");
    }
  }

  if (window.Plotly) draw();
  else window.addEventListener("load", draw);
})();

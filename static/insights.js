// Insights page: positive / neutral / negative (and conflict) mentions per aspect, as a
// horizontal stacked bar. The data comes from the page's json_script block, never from markup.
(function () {
  "use strict";
  const COLORS = { positive: "#2e7d32", neutral: "#c49a00", negative: "#c62828", conflict: "#7e57c2" };
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  // Plotly renders a subset of HTML in labels (<a href>, <span style>, ...) and decodes entities after
  // looking for tags: aspect names typed by staff go in with & < > as entities, shown as plain text.
  const plotlyText = (value) => String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  function draw() {
    const source = document.getElementById("insights-chart");
    const target = document.getElementById("chart-aspects");
    if (!source || !target) return;
    const data = JSON.parse(source.textContent);
    if (!data.categories.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No aspect mentions in this period.";
      target.replaceChildren(p);
      return;
    }
    const polarities = ["positive", "neutral", "negative"];
    if (data.conflict.some((n) => n > 0)) polarities.push("conflict");
    const categories = data.categories.map(plotlyText);
    const traces = polarities.map((polarity) => ({
      type: "bar",
      orientation: "h",
      name: polarity,
      x: data[polarity],
      y: categories,
      marker: { color: COLORS[polarity] },
      hovertemplate: "%{y}: %{x} " + polarity + "<extra></extra>",
    }));
    const layout = {
      barmode: "stack",
      height: Math.max(300, 90 + 34 * data.categories.length),
      margin: { t: 10, r: 10, b: 40, l: 10 },
      legend: { orientation: "h", y: -0.2, traceorder: "normal" },
      xaxis: { title: { text: "mentions" } },
      yaxis: { autorange: "reversed", automargin: true },
      font: { family: "system-ui, sans-serif", size: 12 },
    };
    Plotly.newPlot(target, traces, layout, CONFIG);
  }

  if (window.Plotly) draw();
  else window.addEventListener("load", draw);
})();

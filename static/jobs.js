// Jobs page: render the job table and poll while a job is queued or running.
(function () {
  "use strict";
  const config = document.getElementById("jobs-config").dataset;
  const body = document.getElementById("jobs");
  const cancelTemplate = document.getElementById("cancel-form");

  function cell(row, content, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content == null ? "" : String(content);
    row.appendChild(td);
    return td;
  }

  function render(jobs) {
    const rows = jobs.map((job) => {
      const tr = document.createElement("tr");
      tr.dataset.jobId = String(job.id);
      tr.id = "job-" + job.id;
      tr.dataset.status = job.status;
      cell(tr, "#" + job.id + " · " + job.trigger + " · min_samples " + (job.parameters.min_samples ?? "–"));
      const status = document.createElement("span");
      status.className = "tag " + job.status;
      status.textContent = job.status_display + (job.cancel_requested && !job.is_final ? " (cancelling)" : "");
      cell(tr, status);
      const progress = document.createElement("div");
      const bar = document.createElement("div");
      bar.className = "progress";
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      const pct = Math.round((job.status === "succeeded" ? 1 : job.progress) * 100);
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-label", "Job " + job.id + " progress");
      const fill = document.createElement("span");
      fill.style.width = pct + "%";
      bar.appendChild(fill);
      progress.appendChild(bar);
      const message = document.createElement("div");
      message.className = "small " + (job.error ? "" : "muted");
      message.textContent = job.error ? "Error: " + job.error : job.decision || job.progress_message || "";
      if (job.error) message.style.color = "var(--neg)";
      progress.appendChild(message);
      cell(tr, progress);
      cell(tr, job.requested_by || "–");
      cell(tr, job.created_display || job.created_at.slice(0, 16).replace("T", " "), "small");
      const actions = cell(tr, "");
      if (config.canCancel && !job.is_final) {
        const form = cancelTemplate.content.firstElementChild.cloneNode(true);
        form.action = "/jobs/" + job.id + "/cancel/";
        form.querySelector("button").setAttribute("aria-label", "Cancel job " + job.id);
        actions.appendChild(form);
      }
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "No training jobs yet.", "empty");
      td.colSpan = 6;
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    return jobs.some((job) => !job.is_final);
  }

  let active = render(JSON.parse(document.getElementById("jobs-data").textContent));
  async function poll() {
    try {
      const response = await fetch(config.statusUrl, { credentials: "same-origin" });
      if (response.ok) active = render((await response.json()).jobs);
    } catch (e) {
      /* try again next tick */
    }
    setTimeout(poll, active ? 1000 : 5000);
  }
  setTimeout(poll, active ? 1000 : 5000);
})();

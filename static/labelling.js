// The labelling page: one key labels, saves and advances. No framework, no reload.
//
// The page keeps a small buffer of reviews reserved for this labeller, so the next
// review shows at once; saves go to the server in order through one queue that
// retries, then shows a visible error and keeps trying. Unsaved labels also sit in
// localStorage, so a reload or a crash loses nothing.
(function () {
  "use strict";

  const BUFFER = 3;
  const RETRY_DELAYS = [300, 1000, 3000];
  const STORE_KEY = "labelling.pending.v1";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const filters = JSON.parse(document.getElementById("queue-filters").textContent || "{}");
  const el = {
    card: document.getElementById("card"),
    meta: document.getElementById("meta"),
    text: document.getElementById("review-text"),
    suggestion: document.getElementById("suggestion"),
    status: document.getElementById("status"),
    help: document.getElementById("help"),
  };

  const state = {
    current: null,
    buffer: [],
    history: [], // {item, label} for undo, newest last
    skipped: [],
    ops: loadPending(), // {kind, review_id, label?, t0}
    busy: false,
    failures: 0,
    exhausted: false,
  };
  // Measured latencies (ms) from key press to the server's confirmation; read by the benchmark.
  window.labellingTimings = [];
  window.labellingState = state;

  // --- Rendering ---------------------------------------------------------------

  function tag(text, cls) {
    const span = document.createElement("span");
    span.className = "tag " + (cls || "");
    span.textContent = text;
    return span;
  }

  function highlighted(text, highlights, predicted) {
    const fragment = document.createDocumentFragment();
    const terms = (highlights || []).filter((h) => h.term && h.term.length > 1).sort((a, b) => b.term.length - a.term.length);
    if (!terms.length) {
      fragment.appendChild(document.createTextNode(text));
      return fragment;
    }
    const byTerm = new Map(terms.map((h) => [h.term.toLowerCase(), h]));
    const escaped = terms.map((h) => h.term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+"));
    const pattern = new RegExp("\\b(" + escaped.join("|") + ")\\b", "gi");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      const mark = document.createElement("mark");
      const info = byTerm.get(match[0].toLowerCase().replace(/\s+/g, " "));
      const weight = info ? info.weight : 0;
      mark.className = weight >= 0 ? predicted : "against";
      mark.title = (weight >= 0 ? "Pushed towards " : "Pushed away from ") + predicted + " (" + weight.toFixed(2) + ")";
      mark.textContent = match[0];
      fragment.appendChild(mark);
      last = match.index + match[0].length;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function render() {
    const item = state.current;
    el.card.setAttribute("aria-busy", "false");
    el.meta.replaceChildren();
    el.suggestion.replaceChildren();
    if (!item) {
      el.card.dataset.reviewId = "";
      el.text.replaceChildren();
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = state.exhausted
        ? "Nothing left to label with these filters. Change the queue on the right, or take a break."
        : "Loading…";
      el.text.appendChild(empty);
      el.suggestion.hidden = true;
      return;
    }
    el.card.dataset.reviewId = String(item.id);
    const meta = [
      "#" + item.id,
      item.business_name || item.business || "(no business)",
      item.source,
      item.rating != null ? "★ " + item.rating : "no rating",
      naturalDate(item.date),
      item.author ? "by " + item.author : "",
    ].filter(Boolean);
    for (const part of meta) {
      const span = document.createElement("span");
      span.textContent = part;
      el.meta.appendChild(span);
    }
    el.text.replaceChildren(highlighted(item.text, item.highlights, item.suggestion));
    el.suggestion.hidden = false;
    if (item.blind) {
      const note = tag(item.second_vote ? "Second opinion: no suggestion shown" : "Evaluation set: no suggestion shown", "blind");
      el.suggestion.appendChild(note);
    } else if (item.suggestion) {
      const label = document.createElement("span");
      label.textContent = "Model suggests ";
      el.suggestion.appendChild(label);
      el.suggestion.appendChild(tag(item.suggestion, item.suggestion));
      const confidence = document.createElement("span");
      confidence.className = "confidence";
      const bar = document.createElement("span");
      bar.className = "progress";
      bar.style.width = "120px";
      const fill = document.createElement("span");
      fill.style.width = Math.round((item.confidence || 0) * 100) + "%";
      bar.appendChild(fill);
      confidence.appendChild(bar);
      confidence.appendChild(document.createTextNode(Math.round((item.confidence || 0) * 100) + "% confident"));
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", Math.round((item.confidence || 0) * 100) + "% confident");
      el.suggestion.appendChild(confidence);
    }
    if (!item.blind && item.mixed) {
      // Its aspects praise one theme and fault another: often what a neutral label means.
      const mixed = document.createElement("div");
      mixed.className = "mixed-sides small";
      mixed.appendChild(tag("mixed", "mixed"));
      const praised = document.createElement("span");
      praised.className = "pos";
      praised.textContent = " + " + item.mixed.positive.join(", ");
      const faulted = document.createElement("span");
      faulted.className = "neg";
      faulted.textContent = " − " + item.mixed.negative.join(", ");
      mixed.append(praised, faulted);
      el.suggestion.appendChild(mixed);
    }
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // "2013-01-05" reads "5 Jan 2013", as the dates on the server's pages do.
  function naturalDate(iso) {
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    return match ? Number(match[3]) + " " + MONTHS[Number(match[2]) - 1] + " " + match[1] : iso || "";
  }

  function say(message, isError) {
    el.status.textContent = message || "";
    el.status.classList.toggle("error", Boolean(isError));
  }

  function bump(name, delta) {
    const node = document.querySelector('[data-progress="' + name + '"]');
    if (node) node.textContent = String(Math.max(0, (parseInt(node.textContent, 10) || 0) + delta));
  }

  // --- Queue and server --------------------------------------------------------

  function heldIds() {
    const ids = new Set(state.skipped.slice(-200));
    if (state.current) ids.add(state.current.id);
    for (const item of state.buffer) ids.add(item.id);
    for (const op of state.ops) ids.add(op.review_id);
    return Array.from(ids);
  }

  function wanted() {
    return Math.max(0, BUFFER - state.buffer.length - (state.current ? 1 : 0));
  }

  function addItems(items) {
    const known = new Set(heldIds());
    for (const item of items || []) {
      if (!known.has(item.id)) {
        state.buffer.push(item);
        known.add(item.id);
      }
    }
    if (!state.current && state.buffer.length) {
      state.current = state.buffer.shift();
      render();
    }
  }

  function savePending() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state.ops.filter((op) => op.kind === "label")));
    } catch (e) {
      /* private mode: the in-memory queue still retries */
    }
  }

  function loadPending() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "[]").filter((op) => op && op.kind === "label");
    } catch (e) {
      return [];
    }
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const error = new Error("HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function send(op) {
    const common = { review_id: op.review_id, filters: filters, exclude: heldIds().filter((id) => id !== op.review_id) };
    if (op.kind === "label") {
      return post("label.json", Object.assign({ label: op.label, want: wanted() }, common));
    }
    if (op.kind === "skip") {
      return post("skip.json", Object.assign({ want: wanted() }, common));
    }
    return post("undo.json", { review_id: op.review_id });
  }

  async function drain() {
    if (state.busy) return;
    state.busy = true;
    try {
      while (state.ops.length) {
        const op = state.ops[0];
        let result = null;
        for (let attempt = 0; result === null; attempt++) {
          try {
            result = await send(op);
          } catch (error) {
            state.failures++;
            if (error.status === 401 || error.status === 403) {
              say("Your session has expired: log in again in another tab; your labels are kept and will be saved.", true);
            } else if (attempt >= RETRY_DELAYS.length - 1) {
              say("Could not save (" + error.message + "). Your labels are kept and retried every few seconds.", true);
            }
            await sleep(RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)] * (attempt >= RETRY_DELAYS.length ? 2 : 1));
          }
        }
        state.ops.shift();
        savePending();
        if (el.status.classList.contains("error")) say("Saved again: all labels are stored.");
        handle(op, result);
      }
    } finally {
      state.busy = false;
    }
    if (!state.current && !state.buffer.length) fetchMore();
  }

  function handle(op, result) {
    if (op.kind === "label") {
      if (op.t0) window.labellingTimings.push(performance.now() - op.t0);
      if (result.status === "already_labelled" || result.status === "already_voted") {
        say("Review #" + op.review_id + " had already been labelled by someone else; yours was not needed.");
        bump("labelled_by_me", -1);
        bump("labelled_today", -1);
        bump("labelled_total", -1);
      } else if (result.status === "missing") {
        say("Review #" + op.review_id + " was deleted meanwhile.");
      }
    } else if (op.kind === "undo") {
      if (result.status === "undone") {
        // Show the server's fresh copy of the review we put back.
        if (state.current && state.current.id === op.review_id && result.items.length) {
          state.current = result.items[0];
          render();
        }
        say("Undone: review #" + op.review_id + " is back.");
      } else {
        say("Could not undo review #" + op.review_id + " (a second labeller already used it).", true);
        if (state.current && state.current.id === op.review_id) {
          state.current = state.buffer.shift() || null;
          render();
        }
      }
      return;
    }
    addItems(result.items);
  }

  let fetching = false;
  async function fetchMore() {
    if (fetching || state.ops.length) return;
    const want = wanted();
    if (want <= 0) return;
    fetching = true;
    try {
      const params = new URLSearchParams(filters);
      params.set("count", String(want));
      params.set("exclude", heldIds().join(","));
      const response = await fetch("next.json?" + params.toString(), { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      if (!data.items.length && !state.current) state.exhausted = true;
      addItems(data.items);
      if (!state.current) render();
    } catch (error) {
      say("Could not load reviews (" + error.message + "); retrying…", true);
      setTimeout(fetchMore, 2000);
    } finally {
      fetching = false;
    }
  }

  function advance() {
    state.current = state.buffer.shift() || null;
    if (!state.current) state.exhausted = false;
    render();
    if (state.buffer.length < BUFFER - 1 && !state.ops.length) fetchMore();
  }

  // --- Actions -----------------------------------------------------------------

  function label(value) {
    const item = state.current;
    if (!item) return;
    state.history.push({ item: item, label: value });
    if (state.history.length > 50) state.history.shift();
    state.ops.push({ kind: "label", review_id: item.id, label: value, t0: performance.now() });
    savePending();
    bump("labelled_today", 1);
    bump("labelled_by_me", 1);
    bump("labelled_total", 1);
    bump("unlabelled", -1);
    bump("labels_needed", -1);
    say("Saved #" + item.id + " as " + value + ".");
    advance();
    drain();
  }

  function skip() {
    const item = state.current;
    if (!item) return;
    state.skipped.push(item.id);
    state.ops.push({ kind: "skip", review_id: item.id });
    say("Skipped #" + item.id + ".");
    advance();
    drain();
  }

  function undo() {
    const last = state.history.pop();
    if (!last) {
      say("Nothing to undo.");
      return;
    }
    // Still waiting to be sent? Then simply take it back.
    const index = state.ops.findIndex((op) => op.kind === "label" && op.review_id === last.item.id);
    if (state.current) state.buffer.unshift(state.current);
    state.current = last.item;
    render();
    bump("labelled_today", -1);
    bump("labelled_by_me", -1);
    bump("labelled_total", -1);
    bump("unlabelled", 1);
    bump("labels_needed", 1);
    if (index > 0 || (index === 0 && !state.busy)) {
      state.ops.splice(index, 1);
      savePending();
      say("Undone: review #" + last.item.id + " is back.");
      return;
    }
    state.ops.push({ kind: "undo", review_id: last.item.id });
    drain();
  }

  function toggleHelp(show) {
    const visible = show === undefined ? el.help.hidden : show;
    el.help.hidden = !visible;
    if (visible) document.getElementById("help-close").focus();
    else document.body.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    if (event.key === "Escape") return toggleHelp(false);
    if (event.key === "?") {
      event.preventDefault();
      return toggleHelp();
    }
    if (!el.help.hidden) return;
    const value = window.LabelKeys.labelFor(event); // the keys are on the buttons (static/label-keys.js)
    if (value) {
      event.preventDefault();
      label(value);
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      skip();
    } else if (event.key === "u" || event.key === "U") {
      event.preventDefault();
      undo();
    }
  });

  document.querySelectorAll(".keys button").forEach((button) => {
    button.addEventListener("click", () => {
      if (button.dataset.label) label(button.dataset.label);
      else if (button.dataset.action === "skip") skip();
      else if (button.dataset.action === "undo") undo();
      else toggleHelp(true);
      button.blur();
      document.body.focus();
    });
  });
  document.getElementById("help-close").addEventListener("click", () => toggleHelp(false));

  // Correct the optimistic counters now and then.
  setInterval(async () => {
    if (state.ops.length || document.hidden) return;
    try {
      const response = await fetch("progress.json", { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      for (const [name, value] of Object.entries(data)) {
        const node = document.querySelector('[data-progress="' + name + '"]');
        if (node) node.textContent = String(value);
      }
    } catch (e) {
      /* next time */
    }
  }, 15000);

  // Give reservations back when leaving, so colleagues get these reviews at once.
  window.addEventListener("pagehide", () => {
    const ids = [];
    if (state.current) ids.push(state.current.id);
    for (const item of state.buffer) ids.push(item.id);
    if (!ids.length) return;
    fetch("release.json", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ review_ids: ids }),
    }).catch(() => {});
  });

  // Keys work at once: focus the page, not a form field.
  document.body.tabIndex = -1;
  document.body.focus();
  if (state.ops.length) {
    say("Saving " + state.ops.length + " label(s) left from last time…");
    drain();
  } else {
    fetchMore();
  }
})();

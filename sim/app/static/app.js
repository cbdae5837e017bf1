// The planner page: fields from /api/load, checks by /api/validate (the scenario schema), runs polled from
// /api/jobs/ID, what-ifs compared by /api/compare. Plain JavaScript; every request goes to this page's own server.
"use strict";

const state = { setup: null, model: null, source: null, job: null, polling: null, checkTimer: null };

// ---------------------------------------------------------------------------------------------- helpers
function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// The server's token, written into the page by the server: it refuses a POST without it (another site's page
// cannot read it), and one whose body is not JSON.
const TOKEN = (document.querySelector('meta[name="planner-token"]') || {}).content || "";

async function api(method, path, body) {
  let resp;
  try {
    const post = method !== "GET";
    resp = await fetch(path, { method, headers: post ? { "Content-Type": "application/json", "X-Planner-Token": TOKEN } : {},
                               body: post ? JSON.stringify(body || {}) : undefined });
  } catch (err) {
    return { ok: false, status: 0, data: { error: "the planner's server does not answer (was it stopped?)" } };
  }
  let data = null;
  const type = resp.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) data = await resp.json();
  else data = { blob: await resp.blob(), disposition: resp.headers.get("Content-Disposition") || "" };
  return { ok: resp.ok, status: resp.status, data };
}

function money(x) {
  const sign = x < 0 ? "\u2212" : "";
  const a = Math.abs(x);
  if (a >= 1e6) return sign + "$" + (a / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
  if (a >= 1e4) return sign + "$" + Math.round(a / 1e3).toLocaleString("en-US") + "k";
  return sign + "$" + Math.round(a).toLocaleString("en-US");
}

function fmt(metric, x, signed) {
  if (x === null || x === undefined || !isFinite(x)) return "n/a";
  const info = (state.setup && state.setup.metrics[metric]) || { fmt: "number" };
  const sign = signed && x > 0 ? "+" : "";
  switch (info.fmt) {
    case "money": return sign + money(x);
    case "percent": return sign + (100 * x).toFixed(1) + (signed ? " pp" : "%");
    case "ratio": return sign + x.toFixed(2) + "x";
    case "days": return sign + x.toFixed(0) + " d";
    case "share": return sign + x.toFixed(3);
    default: return sign + (Math.abs(x) >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
  }
}

function interval(metric, lo, hi, signed) {
  if (lo === null || hi === null || lo === undefined || hi === undefined) return "";
  return "[" + fmt(metric, lo, signed) + ", " + fmt(metric, hi, signed) + "]";
}

function metricLabel(metric) {
  const info = state.setup && state.setup.metrics[metric];
  return info ? info.label : metric.replace(/_/g, " ");
}

// ---------------------------------------------------------------------------------------------- errors
function clearErrors(scope) {
  for (const node of $all(".field-error")) {
    const key = node.dataset.for || "";
    if (!scope || scope(key)) node.textContent = "";
  }
  for (const input of $all("input.invalid")) if (!scope || scope(input.dataset.key || input.id)) input.classList.remove("invalid");
  for (const row of $all("tr.err-row")) row.hidden = !$all(".field-error", row).some(n => n.textContent);
}

function showErrors(errors) {
  for (const e of errors) {
    let target = $(`.field-error[data-for="${CSS.escape(e.key)}"]`);
    const fields = (e.fields && e.fields.length) ? e.fields : [e.key];
    for (const key of fields) {
      const input = $(`[data-key="${CSS.escape(key)}"]`);
      if (input) input.classList.add("invalid");
      if (!target) target = $(`.field-error[data-for="${CSS.escape(key)}"]`);
    }
    if (!target) target = $('.field-error[data-for="form"]');
    const prefix = target.dataset.prefix || "";
    target.textContent = (target.textContent ? target.textContent + " " : "") + prefix + e.message;
  }
  for (const row of $all("tr.err-row")) row.hidden = !$all(".field-error", row).some(n => n.textContent);
}

function reportFailure(resp, key) {
  if (resp.data && resp.data.errors) showErrors(resp.data.errors);
  else showErrors([{ key: key || "form", message: (resp.data && resp.data.error) || ("request failed (" + resp.status + ")") }]);
}

// ---------------------------------------------------------------------------------------------- the form
function readValue(input) {
  const text = input.value.trim();
  if (input.dataset.list !== undefined) {  // whole days, "30, 120": a list when every item is a number
    const items = text.split(/[\s,;]+/).filter(t => t !== "");
    return items.every(t => /^-?\d+(\.\d+)?$/.test(t)) ? items.map(Number) : text;
  }
  if (text === "") return text;
  const n = Number(text.replace(/[_,\s]/g, ""));
  return isFinite(n) ? n : text;  // not a number: the schema says what is allowed
}

function values() {
  const out = {};
  for (const input of $all("input[data-key]")) out[input.dataset.key] = readValue(input);
  return out;
}

function fieldInput(key, value, spec) {
  const list = Array.isArray(value);
  return el("input", { type: "text", inputmode: list ? "text" : "decimal", class: "num", "data-key": key,
                       value: list ? value.join(", ") : String(value), "data-list": list,
                       title: (spec.unit ? spec.unit + "; " : "") + spec.allowed, "aria-label": key,
                       oninput: onFieldChange });
}

function renderModel(model) {
  state.model = model;
  state.source = model.source;
  $("#description").textContent = model.description || "";
  const market = $("#market");
  market.replaceChildren();
  for (const f of model.market) {
    market.append(el("label", { for: "f-" + f.key, text: f.label, title: f.unit }));
    const input = fieldInput(f.key, f.value, f);
    input.id = "f-" + f.key;
    market.append(input, el("p", { class: "field-error", "data-for": f.key }));
  }
  const table = $("#strategies");
  table.replaceChildren();
  const strategies = model.strategies;
  const head = el("tr", {}, el("th", { class: "rowhead" }));
  for (const s of strategies) head.append(el("th", { text: s.replace(/_/g, " "), title: s }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  const groups = { budget: "Channel budgets ($ a year)", team: "Sales team", split: "Rep time split (shares of hours)" };
  let group = null;
  const addErrorRow = (keys) => {
    const cell = el("td", { colspan: strategies.length + 1 });
    for (const [key, prefix] of keys) cell.append(el("p", { class: "field-error", "data-for": key, "data-prefix": prefix }));
    const row = el("tr", { class: "err-row", hidden: true }, cell);
    body.append(row);
  };
  for (const f of model.strategy_fields) {
    if (f.group !== group) {
      if (group === "budget") addSumRow(body, "budget-total", "Total budget");
      group = f.group;
      body.append(el("tr", { class: "group" }, el("td", { colspan: strategies.length + 1, text: groups[group] || group })));
    }
    const row = el("tr", {}, el("td", { class: "rowhead", text: f.label, title: f.unit }));
    for (const s of strategies) {
      row.append(el("td", {}, fieldInput(`strategies.${s}.${f.path}`, model.strategy_values[s][f.path], f)));
    }
    body.append(row);
    addErrorRow(strategies.map(s => [`strategies.${s}.${f.path}`, s.replace(/_/g, " ") + ": "]));
  }
  addSumRow(body, "split-total", "Shares add up to");
  addErrorRow(strategies.map(s => [`strategies.${s}.sales.split`, s.replace(/_/g, " ") + ": "]));
  table.append(body);
  updateTotals();
  clearErrors();
}

function addSumRow(body, kind, label) {
  const row = el("tr", { class: "sum", "data-sum": kind }, el("td", { class: "rowhead", text: label }));
  for (const s of state.model.strategies) row.append(el("td", { "data-strategy": s }));
  body.append(row);
}

function updateTotals() {
  const v = values();
  for (const s of state.model.strategies) {
    let budget = 0, split = 0, budgetOk = true, splitOk = true;
    for (const f of state.model.strategy_fields) {
      const x = v[`strategies.${s}.${f.path}`];
      if (f.group === "budget") { if (typeof x === "number") budget += x; else budgetOk = false; }
      if (f.group === "split") { if (typeof x === "number") split += x; else splitOk = false; }
    }
    const bcell = $(`tr[data-sum="budget-total"] td[data-strategy="${CSS.escape(s)}"]`);
    bcell.textContent = budgetOk ? "$" + Math.round(budget).toLocaleString("en-US") : "?";
    const scell = $(`tr[data-sum="split-total"] td[data-strategy="${CSS.escape(s)}"]`);
    scell.textContent = splitOk ? split.toFixed(2) : "?";
    scell.classList.toggle("off", !splitOk || Math.abs(split - 1) > 1e-6);
  }
}

function onFieldChange() {
  updateTotals();
  clearTimeout(state.checkTimer);
  state.checkTimer = setTimeout(check, 350);
}

async function check() {
  if (!state.source) return true;
  const resp = await api("POST", "/api/validate", { source: state.source, values: values() });
  clearErrors(key => key !== "whatif_name" && key !== "compare");
  if (!resp.ok) { reportFailure(resp); return false; }
  return true;
}

function chosenSource() {
  const v = $("#source-select").value;
  if (v === "__file__") return { kind: "file", path: $("#source-path").value };
  const [kind, rest] = [v.slice(0, v.indexOf(":")), v.slice(v.indexOf(":") + 1)];
  return kind === "preset" ? { kind, name: rest } : { kind: "file", path: rest };
}

async function loadSource(source) {
  const resp = await api("POST", "/api/load", { source });
  clearErrors(key => key === "source");
  if (!resp.ok) { reportFailure(resp, "source"); return; }
  renderModel(resp.data);
}

// ---------------------------------------------------------------------------------------------- running
async function run() {
  clearErrors(key => key !== "whatif_name" && key !== "compare");
  const reps = readValue($("#reps"));
  const resp = await api("POST", "/api/run", { source: state.source, values: values(), reps });
  if (!resp.ok) { reportFailure(resp); return; }
  state.job = resp.data;
  $("#charts").replaceChildren(el("p", { class: "muted", text: "Drawn when every run is done." }));
  $("#download-report").hidden = true;
  renderJob(resp.data);
  poll();
}

function poll() {
  clearTimeout(state.polling);
  state.polling = setTimeout(async () => {
    if (!state.job) return;
    const resp = await api("GET", `/api/jobs/${state.job.id}`);
    if (!resp.ok) { renderProgressError((resp.data && resp.data.error) || "the run was lost"); return; }
    state.job = resp.data;
    renderJob(resp.data);
    if (["queued", "running", "reporting"].includes(resp.data.status)) poll();
  }, 600);
}

function renderProgressError(message) {
  const text = $("#progress-text");
  text.textContent = message;
  text.classList.add("error");
  $("#run").disabled = false;
  $("#stop").disabled = true;
}

function renderJob(job) {
  const active = ["queued", "running", "reporting"].includes(job.status);
  $("#run").disabled = false;
  $("#stop").disabled = !active;
  $("#save-whatif").disabled = job.status !== "done";
  $("#progress-fill").style.width = (100 * job.done / job.total).toFixed(1) + "%";
  const text = $("#progress-text");
  text.classList.toggle("error", job.status === "error");
  text.dataset.status = job.status;
  text.dataset.job = job.id;
  const reps = `${job.reps_done} of ${job.reps} replications per strategy`;
  const first = job.first_numbers_seconds !== null ? ` · first numbers after ${job.first_numbers_seconds.toFixed(1)} s` : "";
  const words = {
    queued: "Starting the worker processes...",
    running: `Running: ${job.done} of ${job.total} runs, ${reps}${first}; the intervals narrow as replications finish.`,
    reporting: `All ${job.total} runs done; drawing the charts and writing the report...`,
    done: `Done: ${reps} in ${job.elapsed !== null ? job.elapsed.toFixed(1) : "?"} s${first}.`,
    cancelled: `Stopped after ${job.done} of ${job.total} runs (${reps}).`,
    error: `The run failed: ${job.error}`,
  };
  text.textContent = words[job.status] || job.status;
  renderComparison(job);
  if (job.status === "done") {
    const link = $("#download-report");
    link.href = job.report;
    link.setAttribute("download", "");
    link.hidden = !job.report;
    renderCharts(job.charts);
  }
}

function renderComparison(job) {
  const box = $("#comparison");
  if (!job.comparison.length) { box.replaceChildren(); return; }
  const strategies = job.strategies;
  const rows = {};
  for (const r of job.comparison) (rows[r.metric] = rows[r.metric] || {})[r.strategy] = r;
  const head = el("tr", {}, el("th", { text: "Metric" }));
  for (const s of strategies) head.append(el("th", { text: s.replace(/_/g, " ") }));
  const body = el("tbody");
  for (const metric of state.setup.metric_order) {
    if (!rows[metric]) continue;
    const tr = el("tr", { "data-metric": metric }, el("td", { text: metricLabel(metric) }));
    for (const s of strategies) {
      const r = rows[metric][s];
      if (!r) { tr.append(el("td", { text: "n/a" })); continue; }
      const cls = r.best === s ? "best" : (r.clear ? "worse" : null);
      const td = el("td", { class: cls, "data-strategy": s, "data-mean": r.mean === null ? "" : String(r.mean) },
                    fmt(metric, r.mean), el("span", { class: "ci", text: interval(metric, r.low, r.high) }));
      if (r.best !== s && r.diff !== null) {
        td.title = `${s} minus ${r.best}: ${fmt(metric, r.diff, true)} ${interval(metric, r.diff_low, r.diff_high, true)}` +
                   (r.clear ? " (clear: the paired 95% interval excludes zero)" : " (not clear at this number of replications)");
      }
      tr.append(td);
    }
    body.append(tr);
  }
  const n = job.reps_done;
  const note = n < 2 ? "One replication per strategy so far: means only; intervals come with the second."
                     : `Means over ${n} replication${n === 1 ? "" : "s"} per strategy, 95% intervals below each.`;
  const legend = el("p", { class: "legend" }, note,
                    el("span", { class: "swatch", style: "background:#e7f6ec" }), "best",
                    el("span", { class: "swatch", style: "background:#fdf1f0" }),
                    "clearly worse than the best (paired 95% interval of the difference excludes zero); hover a cell for the difference.");
  box.replaceChildren(el("table", { class: "results", id: "comparison-table" }, el("thead", {}, head), body), legend);
}

function renderCharts(charts) {
  const box = $("#charts");
  if (box.querySelectorAll("figure").length === charts.length && charts.length) return;
  box.replaceChildren();
  for (const c of charts) {
    const caption = c.name.replace(/_/g, " ");
    box.append(el("figure", {}, el("a", { href: c.url, target: "_blank" },
                                  el("img", { src: c.url, alt: caption, loading: "lazy" })),
                  el("figcaption", { text: c.caption || caption.charAt(0).toUpperCase() + caption.slice(1) })));
  }
}

async function stop() {
  if (!state.job) return;
  await api("POST", `/api/jobs/${state.job.id}/cancel`, {});
}

async function download(path, body, fallbackName) {
  const resp = await api("POST", path, body);
  if (!resp.ok) { reportFailure(resp); return; }
  const match = /filename="([^"]+)"/.exec(resp.data.disposition);
  const url = URL.createObjectURL(resp.data.blob);
  const a = el("a", { href: url, download: match ? match[1] : fallbackName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

// ---------------------------------------------------------------------------------------------- what-ifs
function renderWhatifs(list) {
  const ul = $("#whatif-list");
  ul.replaceChildren();
  for (const w of list) {
    const box = el("input", { type: "checkbox", value: w.name, "aria-label": "compare " + w.name, onchange: updateCompareButton });
    ul.append(el("li", { "data-name": w.name }, box, el("span", { class: "name", text: w.name }),
                 el("span", { class: "muted small", text: `${w.scenario}, ${w.reps} replications, ${w.strategies.length} strategies` }),
                 el("button", { type: "button", class: "small", text: "delete", onclick: () => deleteWhatif(w.name) })));
  }
  updateCompareButton();
}

function ticked() { return $all("#whatif-list input:checked").map(b => b.value); }
function updateCompareButton() { const n = ticked().length; $("#compare").disabled = n < 2 || n > 3; }

async function saveWhatif() {
  clearErrors(key => key === "whatif_name");
  const resp = await api("POST", "/api/whatifs", { job: state.job && state.job.id, name: $("#whatif-name").value });
  if (!resp.ok) { reportFailure(resp, "whatif_name"); return; }
  const before = new Set(ticked());
  renderWhatifs(resp.data.whatifs);
  const name = $("#whatif-name").value.trim().replace(/\s+/g, " ");
  for (const b of $all("#whatif-list input")) b.checked = before.has(b.value) || b.value === name;
  updateCompareButton();
  $("#whatif-name").value = "";
}

async function deleteWhatif(name) {
  const resp = await api("POST", "/api/whatifs/delete", { name });
  if (resp.ok) renderWhatifs(resp.data.whatifs);
}

async function compare() {
  clearErrors(key => key === "compare");
  const resp = await api("POST", "/api/compare", { names: ticked() });
  const box = $("#compare-result");
  if (!resp.ok) { box.replaceChildren(); reportFailure(resp, "compare"); return; }
  const c = resp.data;
  const head = el("tr", {}, el("th", { text: "Strategy, metric" }), el("th", { text: c.names[0] }));
  for (const name of c.names.slice(1)) head.append(el("th", { text: name }), el("th", { text: `${name} − ${c.names[0]}` }));
  const body = el("tbody");
  let current = null;
  for (const r of c.rows) {
    if (r.strategy !== current) {
      current = r.strategy;
      body.append(el("tr", { class: "strategy-head" }, el("td", { colspan: 2 * c.names.length, text: current.replace(/_/g, " ") })));
      if (c.identical.includes(current)) {
        body.append(el("tr", { class: "identical", "data-strategy": current },
                       el("td", { colspan: 2 * c.names.length,
                                  text: "The same in every what-if: the same settings on the same seeds give the same runs (every difference is 0)." })));
      }
    }
    if (c.identical.includes(r.strategy)) continue;
    const tr = el("tr", { "data-strategy": r.strategy, "data-metric": r.metric }, el("td", { text: metricLabel(r.metric) }));
    const cell = (x) => el("td", {}, fmt(r.metric, x.mean), el("span", { class: "ci", text: interval(r.metric, x.low, x.high) }));
    tr.append(cell(r.cells[0]));
    r.cells.slice(1).forEach((x, i) => {
      const d = r.deltas[i];
      const better = (state.setup.metrics[r.metric] || {}).better === "min" ? d.diff < 0 : d.diff > 0;
      tr.append(cell(x), el("td", { class: d.clear ? (better ? "clear-up" : "clear-down") : null, "data-delta": String(d.diff),
                                    title: d.clear ? "clear: the paired 95% interval excludes zero" : "not clear: the paired 95% interval includes zero" },
                            fmt(r.metric, d.diff, true), el("span", { class: "ci", text: interval(r.metric, d.low, d.high, true) })));
    });
    body.append(tr);
  }
  const notes = [`Differences are paired by seed over ${c.common_seeds.length} common seeds (95% paired t-intervals); ` +
                 "green or red: clearly better or worse than the first what-if."];
  if (c.missing_strategies.length) notes.push(`Not in every what-if, so not compared: ${c.missing_strategies.join(", ")}.`);
  box.replaceChildren(el("table", { class: "results", id: "compare-table" }, el("thead", {}, head), body),
                      el("p", { class: "legend", text: notes.join(" ") }));
}

// ---------------------------------------------------------------------------------------------- start
async function start() {
  const resp = await api("GET", "/api/setup");
  if (!resp.ok) { showErrors([{ key: "source", message: resp.data.error || "the server did not answer" }]); return; }
  const setup = state.setup = resp.data;
  const select = $("#source-select");
  const presets = el("optgroup", { label: "Presets" });
  for (const p of setup.presets) presets.append(el("option", { value: "preset:" + p, text: p }));
  select.append(presets);
  if (setup.calibrated.length) {
    const cal = el("optgroup", { label: "Calibrated (results/calibration)" });
    for (const p of setup.calibrated) cal.append(el("option", { value: "file:" + p, text: p }));
    select.append(cal);
  }
  const other = el("optgroup", { label: "Other" });
  const src = setup.source;
  if (src.kind === "file" && !setup.calibrated.includes(src.path)) other.append(el("option", { value: "file:" + src.path, text: src.path }));
  other.append(el("option", { value: "__file__", text: "a scenario file..." }));
  select.append(other);
  select.value = src.kind === "preset" ? "preset:" + src.name : "file:" + src.path;
  select.addEventListener("change", () => {
    const file = select.value === "__file__";
    $("#source-path").hidden = !file;
    if (!file) loadSource(chosenSource());
  });
  $("#load").addEventListener("click", () => loadSource(chosenSource()));
  $("#reps").value = setup.reps;
  $("#reps").max = setup.max_reps;
  $("#run").addEventListener("click", run);
  $("#stop").addEventListener("click", stop);
  $("#download-toml").addEventListener("click", () => download("/api/toml", { source: state.source, values: values() }, "scenario.toml"));
  $("#save-whatif").addEventListener("click", saveWhatif);
  $("#compare").addEventListener("click", compare);
  await loadSource(src);
  const list = await api("GET", "/api/whatifs");
  if (list.ok) renderWhatifs(list.data.whatifs);
  document.body.dataset.ready = "1";
}

start();

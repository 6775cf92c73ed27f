// The HubSpot syncs page: fetches the plugin's JSON API (same origin, Airflow's session cookie)
// and draws tables and SVG charts. No libraries; every value is inserted as text.
"use strict";

const ROOT = location.pathname.replace(/\/?$/, "/");
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1c7ed6", "#2f9e44", "#e67700", "#862e9c", "#c2255c", "#0c8599", "#5c940d", "#495057"];

async function getJson(path) {
  const response = await fetch(ROOT + path, { credentials: "same-origin" });
  if (response.status === 401 || response.status === 403) {
    throw new Error("Sign in to Airflow with a user who may read DAGs to see this page.");
  }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

const fmt = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
const when = (t) => (t ? String(t).replace("T", " ").slice(0, 19) : "");

function counterList(counter) {
  const entries = Object.entries(counter || {}).filter(([, v]) => typeof v === "number" && v !== 0);
  if (!entries.length) return "–";
  return el("ul", { class: "plain" }, ...entries.map(([k, v]) => el("li", {}, `${k}: ${fmt(v)}`)));
}

function total(counter) {
  return Object.values(counter || {}).reduce((a, v) => a + (typeof v === "number" ? v : 0), 0);
}

// ------------------------------------------------------------------ objects table
function objectRow(o, onSelect) {
  const r = o.last_run || {};
  const badge = el("span", { class: `badge ${o.freshness.replace(" ", "-")}` }, o.freshness);
  const last = o.error || (o.last_run ? `${r.mode} · ${r.status} · ${when(r.finished_at)}` : "–");
  const calls = o.last_run ? el("div", {}, el("strong", { class: "api-total" }, fmt(total(r.api_calls))), counterList(r.api_calls)) : "–";
  const row = el(
    "tr",
    { class: "clickable", "data-object": o.key },
    el("td", {}, o.key),
    el("td", {}, o.destination),
    el("td", {}, o.schedule || "manual"),
    el("td", {}, badge),
    el("td", {}, last),
    el("td", { class: "num" }, r.duration_s ?? ""),
    el("td", { class: "num records" }, fmt(r.records_fetched)),
    el("td", { class: "num upserted" }, fmt(r.records_upserted)),
    el("td", { class: "num rejects" }, fmt(r.rejects)),
    el("td", {}, o.last_run ? counterList(r.deletes) : "–"),
    el("td", {}, o.last_run ? counterList(r.schema_changes) : "–"),
    el("td", { class: "api-calls" }, calls),
  );
  row.addEventListener("click", () => onSelect(o.key));
  return row;
}

// ------------------------------------------------------------------ charts
// series: [{name, points: [{x: label, y: number, run_id?}]}]; extra: a dashed budget series
function lineChart(id, title, series, budget) {
  const W = 440, H = 220, L = 52, R = 12, T = 24, B = 34;
  const all = series.flatMap((s) => s.points).concat(budget ? budget.points : []);
  const labels = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))];
  const maxY = Math.max(1, ...all.map((p) => p.y || 0));
  const x = (label) => L + (labels.length < 2 ? (W - L - R) / 2 : (labels.indexOf(label) * (W - L - R)) / (labels.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v || 0) / maxY);
  const svg = svgEl("svg", { class: "chart", "data-chart": id, viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.append(Object.assign(svgEl("text", { x: L, y: 15, "font-weight": 600 }), { textContent: title }));
  svg.append(svgEl("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  svg.append(svgEl("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  for (const v of [0, maxY / 2, maxY]) {
    const t = svgEl("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    t.textContent = fmt(Math.round(v * 100) / 100);
    svg.append(t);
  }
  if (labels.length) {
    for (const label of [labels[0], labels[labels.length - 1]]) {
      const t = svgEl("text", { x: x(label), y: H - B + 16, "text-anchor": "middle" });
      t.textContent = when(label).slice(5, 16);
      svg.append(t);
    }
  }
  const draw = (s, cls, color) => {
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
    if (s.points.length > 1) svg.append(svgEl("path", { class: cls, d, stroke: color }));
  };
  if (budget) draw(budget, "budget", "#c92a2a");
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    draw(s, "line", color);
    for (const p of s.points) {
      const c = svgEl("circle", { class: "point", cx: x(p.x), cy: y(p.y), r: 3.5, fill: color, "data-value": p.y });
      if (p.run_id) c.dataset.runId = p.run_id;
      const tip = svgEl("title");
      tip.textContent = `${s.name ? s.name + " · " : ""}${when(p.x)}: ${fmt(p.y)}`;
      c.append(tip);
      svg.append(c);
    }
  });
  const figure = el("figure", {}, svg);
  if (series.length > 1 || budget) {
    const legend = el("div", { class: "legend" });
    series.forEach((s, i) => legend.append(el("span", {}, Object.assign(el("i"), { style: `background:${COLORS[i % COLORS.length]}` }), s.name)));
    if (budget) legend.append(el("span", {}, Object.assign(el("i"), { style: "background:#c92a2a" }), budget.name));
    figure.append(legend);
  }
  return figure;
}

async function showHistory(key) {
  const charts = document.getElementById("charts");
  charts.replaceChildren();
  document.querySelectorAll("#objects tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.object === key));
  document.getElementById("object-select").value = key;
  const data = await getJson(`api/objects/${encodeURIComponent(key)}/runs`);
  const pts = (field) => data.runs.map((r) => ({ x: r.started_at, y: r[field], run_id: r.run_id }));
  const b = data.rate_budget;
  // the most calls the connection's pacing allows in each run's duration
  const budget = b && {
    name: `rate budget (${b.max_calls} / ${b.interval_ms / 1000} s)`,
    points: data.runs.map((r) => ({ x: r.started_at, y: Math.round((b.max_calls * (r.duration_s || 0) * 1000) / b.interval_ms) })),
  };
  charts.append(
    lineChart("records_upserted", "Records upserted", [{ name: "", points: pts("records_upserted") }]),
    lineChart("api_calls", "API calls", [{ name: "API calls", points: pts("api_calls") }], budget),
    lineChart("rejects", "Rejects", [{ name: "", points: pts("rejects") }]),
    lineChart("duration_s", "Run duration (s)", [{ name: "", points: pts("duration_s") }]),
  );
  charts.querySelectorAll("circle[data-run-id]").forEach((c) =>
    c.addEventListener("click", () => showRun(`hubspot_${key}`, c.dataset.runId)),
  );
}

// ------------------------------------------------------------------ one run
function cell(value) {
  if (value && typeof value === "object") return el("pre", {}, JSON.stringify(value, null, 1));
  return String(value ?? "");
}

async function showRun(dagId, runId) {
  const section = document.getElementById("run-section");
  section.hidden = false;
  document.getElementById("run-title").textContent = `${dagId} · ${runId}`;
  const body = document.querySelector("#run-report tbody");
  try {
    const report = await getJson(`api/runs/${encodeURIComponent(dagId)}/${encodeURIComponent(runId)}`);
    body.replaceChildren(...Object.entries(report).map(([k, v]) => el("tr", { "data-field": k }, el("th", {}, k), el("td", {}, cell(v)))));
  } catch (err) {
    body.replaceChildren(el("tr", {}, el("td", {}, err.message)));
  }
}

// ------------------------------------------------------------------ scoring
function scoringBlock(d) {
  const block = el("div", { class: "scoring" }, el("h3", {}, `${d.destination} · ${d.schema}`));
  const series = new Map();
  for (const h of d.history) {
    const name = `owner ${h.owner_id ?? "none"} · ${h.combined_stage}`;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push({ x: h.snapshot_at, y: Number(h.total_score) });
  }
  block.append(lineChart("score_history", "Score history (total score per owner and stage)", [...series].map(([name, points]) => ({ name, points }))));
  const cols = ["snapshot_id", "source", "unit", "snapshot_at", "ingest_status", "scoring_status", "num_input_units", "num_units", "num_history_rows"];
  const table = el("table", { id: "snapshot-registry" }, el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, c)))));
  table.append(el("tbody", {}, ...d.registry.map((r) => el("tr", {}, ...cols.map((c) => el("td", {}, c === "snapshot_at" ? when(r[c]) : r[c]))))));
  block.append(el("h3", {}, "Snapshot registry"), table);
  return block;
}

// ------------------------------------------------------------------ page
// the query string decoded without URLSearchParams' "+" -> " " (run ids hold "+00:00")
function queryParams() {
  const values = new Map();
  for (const pair of location.search.replace(/^\?/, "").split("&").filter(Boolean)) {
    const [k, v = ""] = pair.split("=");
    values.set(decodeURIComponent(k), decodeURIComponent(v));
  }
  return { get: (k) => values.get(k) ?? null };
}

async function main() {
  try {
    const objects = await getJson("api/objects");
    const select = document.getElementById("object-select");
    const tbody = document.querySelector("#objects tbody");
    tbody.replaceChildren(...objects.map((o) => objectRow(o, showHistory)));
    select.replaceChildren(...objects.map((o) => el("option", { value: o.key }, o.key)));
    select.addEventListener("change", () => showHistory(select.value));
    document.getElementById("updated").textContent = `as of ${new Date().toISOString().slice(0, 19).replace("T", " ")} UTC`;
    const params = queryParams();
    const fromRun = params.get("dag_id") && objects.find((o) => o.dag_id === params.get("dag_id"));
    const first = fromRun || objects.find((o) => o.last_run) || objects[0];
    const pending = [];
    if (first) pending.push(showHistory(first.key));
    if (params.get("dag_id") && params.get("run_id")) pending.push(showRun(params.get("dag_id"), params.get("run_id")));
    const scoring = await getJson("api/scoring");
    document.getElementById("scoring").replaceChildren(...(scoring.length ? scoring.map(scoringBlock) : [el("p", {}, "No object has scoring enabled.")]));
    await Promise.all(pending);
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err.message);
    document.body.dataset.ready = "error";
  }
}

main();

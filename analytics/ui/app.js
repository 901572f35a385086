"use strict";
// The dashboards page: time series (chart "line": rows of time, series,
// value) drawn with uPlot, everything else as tables. The window and the
// filters live in the URL (?range=1h&topic=...), so a view can be linked;
// the server validates them and binds them to the queries as parameters.

const palette = ["#3b6fd8", "#e07b39", "#3a9d5d", "#b8457a", "#7a5cc7", "#2a9fb0", "#c4a13a", "#6b7280"];
// Series i's colour: the palette, then hues spread by the golden angle, so
// no two series of a chart share one however many there are.
const color = i => i < palette.length ? palette[i] : `hsl(${Math.round(i * 137.508) % 360}, 65%, 42%)`;
// Dash patterns, in turn: series that lie on top of each other (mirror lag
// of every source and type at about 1 s) show each colour in the gaps.
const dashes = [[], [10, 5], [3, 4], [14, 4, 3, 4]];
const isNum = v => typeof v === "number";
const $ = id => document.getElementById(id);
const filterNames = {topic: "topic", workflow_type: "workflow type"};
let plots = [];
let loads = 0;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function table(res) {
  const t = el("table", {});
  t.append(el("tr", {}, ...res.columns.map(c => el("th", {}, c))));
  for (const row of res.rows) {
    t.append(el("tr", {}, ...row.map(v => el("td", isNum(v) ? {class: "num"} : {}, String(v)))));
  }
  return t;
}

// state is what the URL says, defaulting to the last 24 h.
function state() {
  const q = new URLSearchParams(location.search);
  const s = {range: q.get("range") || "", from: q.get("from") || "", to: q.get("to") || "",
    topic: q.get("topic") || "", workflow_type: q.get("workflow_type") || ""};
  if (!s.range && !(s.from && s.to)) s.range = "24h";
  return s;
}

function query(s) {
  const q = new URLSearchParams();
  if (s.from && s.to && !s.range) { q.set("from", s.from); q.set("to", s.to); } else q.set("range", s.range);
  if (s.topic) q.set("topic", s.topic);
  if (s.workflow_type) q.set("workflow_type", s.workflow_type);
  return q.toString();
}

// datetime-local values are read and shown as UTC.
const toLocalInput = unix => new Date(unix * 1000).toISOString().slice(0, 16);
const fromLocalInput = v => v ? v + ":00Z" : "";

function setState(change) {
  const s = Object.assign(state(), change);
  history.replaceState(null, "", "?" + query(s));
  load().catch(fail);
}

// Time series: x = the distinct bucket times, one series per value of the
// middle column(s), y = the last column; a bucket a series has no row for
// is a gap.
function lineChart(d, width) {
  const res = d.result, yi = res.columns.length - 1;
  const xs = [...new Set(res.rows.map(r => Date.parse(r[0]) / 1000))].sort((a, b) => a - b);
  const xi = new Map(xs.map((x, i) => [x, i]));
  const series = new Map();
  for (const r of res.rows) {
    const key = r.slice(1, yi).map(String).join(" / ") || res.columns[yi];
    if (!series.has(key)) series.set(key, xs.map(() => null));
    series.get(key)[xi.get(Date.parse(r[0]) / 1000)] = r[yi];
  }
  const keys = [...series.keys()];
  const span = d.params.to - d.params.from;
  // Drawn in order, each on top of the ones before: each series a step
  // wider, with points a step bigger, than the one drawn over it, so
  // where they coincide every one still shows (a ring around each point,
  // a stripe along each line).
  const depth = i => Math.min(keys.length - 1 - i, 4);
  const opts = {
    width, height: 220,
    tzDate: ts => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: {
      x: {time: true, range: () => [Math.min(d.params.from, xs[0]), d.params.to]},
      // Every series here counts or measures from zero.
      y: {range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1]},
    },
    axes: [
      // uPlot picks the tick increment; the labels say as much as it
      // needs. The labels are kept on the chart's root (tests read them).
      {space: 64, values: (u, ticks, axis, space, incr) => {
        const labels = ticks.map(t => fmtTime(t, incr, span));
        u.root.dataset.xticks = JSON.stringify(labels);
        return labels;
      }},
      {label: res.columns[yi], size: 64, values: (u, ticks) => ticks.map(fmtNum)},
    ],
    // The legend names every series with its colour and dash; hovering
    // shows each one's value at the cursor.
    legend: {show: true, live: true},
    series: [{label: "time (UTC)"}, ...keys.map((k, i) => ({label: k, stroke: color(i), dash: dashes[i % dashes.length],
      width: 1.5 + depth(i), points: {show: true, size: 5 + 3 * depth(i), fill: color(i)}}))],
  };
  const box = el("div", {class: "chart"});
  const plot = new uPlot(opts, [xs, ...keys.map(k => series.get(k))], box);
  plots.push(plot);
  const points = keys.reduce((n, k) => n + series.get(k).filter(v => v !== null).length, 0);
  return {box, series: keys.length, points};
}

// Axis labels in UTC, 24 h clock: with seconds when ticks are less than a
// minute apart (a window of a few minutes, where "HH:MM" would repeat on
// every tick), the date once the window spans days.
function fmtTime(t, incr, span) {
  const iso = new Date(t * 1000).toISOString();
  if (incr < 60) return iso.slice(11, 19);
  return span > 36 * 3600 ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
}
const fmtNum = v => v === 0 ? "0" : String(+v.toPrecision(3));

function fillSelect(sel, values, current, all) {
  const opts = [el("option", {value: ""}, all), ...values.map(v => el("option", {value: v}, v))];
  if (current && !values.includes(current)) opts.push(el("option", {value: current}, current + " (not in the data)"));
  sel.replaceChildren(...opts);
  sel.value = current;
}

async function load() {
  const s = state();
  $("range").value = s.range || "custom";
  $("custom").hidden = !!s.range;
  const qs = query(s);
  const [resp, fresp] = await Promise.all([fetch("/api/dashboards?" + qs), fetch("/api/filters")]);
  if (fresp.ok) {
    const f = await fresp.json();
    fillSelect($("topic"), f.topics, s.topic, "all topics");
    fillSelect($("workflow_type"), f.workflow_types, s.workflow_type, "all workflow types");
  }
  if (!resp.ok) {
    $("problem").textContent = (await resp.text()).trim();
    $("meta").textContent = "not loaded";
    document.body.dataset.query = qs;
    document.body.dataset.loads = ++loads;
    document.body.dataset.loaded = "true";
    return;
  }
  $("problem").textContent = "";
  const ds = await resp.json();
  for (const p of plots) p.destroy();
  plots = [];
  const charts = $("charts"), tables = $("tables");
  charts.replaceChildren();
  tables.replaceChildren();
  let p = null;
  for (const d of ds) {
    p = d.params;
    const s = el("section", {id: d.name, "data-rows": d.result.rows.length},
      el("h2", {}, d.title), el("p", {}, d.description));
    const ignored = Object.keys(filterNames).filter(f => p[f] && !d.filters.includes(f));
    if (ignored.length) s.append(el("p", {class: "unfiltered"}, "not narrowed by " + ignored.map(f => filterNames[f]).join(" or ")));
    const into = d.chart === "line" ? charts : tables;
    into.append(s); // in the document first: the chart takes its width
    if (d.error) s.append(el("div", {class: "error"}, d.error));
    else if (!d.result.rows.length) s.append(el("div", {class: "empty"}, "no data in this window"));
    else if (d.chart === "line") {
      const c = lineChart(d, Math.max(300, s.clientWidth - 32));
      s.dataset.chart = "uplot";
      s.dataset.series = c.series;
      s.dataset.points = c.points;
      s.append(c.box, el("details", {}, el("summary", {}, `${d.result.rows.length} rows`), table(d.result)));
    } else s.append(table(d.result));
  }
  if (p) {
    $("from").value = toLocalInput(p.from);
    $("to").value = toLocalInput(p.to);
  }
  const win = s.range ? "last " + s.range : `${s.from} – ${s.to}`;
  $("meta").textContent = `${ds.length} dashboards · ${win}` + (p ? ` · ${p.step} s buckets` : "") +
    ` · updated ${new Date().toISOString().slice(11, 19)} UTC`;
  document.body.dataset.query = qs;
  document.body.dataset.loads = ++loads;
  document.body.dataset.loaded = "true";
}

function fail(e) { $("meta").textContent = "failed: " + e; }

$("range").addEventListener("change", e => {
  if (e.target.value === "custom") { $("custom").hidden = false; return; }
  setState({range: e.target.value, from: "", to: ""});
});
$("apply").addEventListener("click", () => {
  setState({range: "", from: fromLocalInput($("from").value), to: fromLocalInput($("to").value)});
});
$("topic").addEventListener("change", e => setState({topic: e.target.value}));
$("workflow_type").addEventListener("change", e => setState({workflow_type: e.target.value}));
load().catch(fail);
// A relative window moves with the clock; a custom one stays.
setInterval(() => { if (state().range) load().catch(() => {}); }, 30000);

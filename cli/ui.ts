import { Hono } from "hono";
import type { Runtime } from "../runtime/mod.ts";
// uPlot, bundled (in the compiled binary too): the page loads nothing from elsewhere.
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };

/**
 * The live page of a running app, at `/ui`: in/out rates, lag, watermark age and end-to-end
 * latency as charts (uPlot), dead letters by reason and a per-partition table, refreshed every
 * second from `/ui/data` (the same figures as `/metrics`).
 *
 * @example
 * root.route("/", uiApi(rt));
 */
export function uiApi(rt: Pick<Runtime, "summary">): Hono {
  const app = new Hono();
  app.get("/ui", (c) => c.html(PAGE));
  app.get("/ui/data", (c) => c.json(rt.summary()));
  app.get("/ui/uplot.js", (c) => c.body(uplotJs, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=3600" }));
  app.get("/ui/uplot.css", (c) => c.body(uplotCss, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=3600" }));
  return app;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>weir</title>
<link rel="stylesheet" href="/ui/uplot.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  .figures { display: flex; gap: 2em; flex-wrap: wrap; margin: .8em 0 1.2em; }
  .figures div { min-width: 8em; } .figures b { display: block; font-size: 1.5em; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1em; }
  .chart h2, h2 { font-size: 1em; margin: .8em 0 .3em; }
  table { border-collapse: collapse; } td, th { padding: .15em .8em; text-align: right; border-bottom: 1px solid #eee; }
  th { text-align: right; font-weight: 600; } td.l, th.l { text-align: left; }
  #state.ready { color: #176c2c; } #state.not-ready { color: #a11; }
</style>
</head>
<body>
<h1>weir: app <span id="app">…</span> <small id="state">…</small></h1>
<div class="figures">
  <div>events processed<b id="processed">0</b></div>
  <div>in, events/s<b id="in-rate">0</b></div>
  <div>outputs<b id="emitted">0</b></div>
  <div>dead letters<b id="dead-letters">0</b></div>
  <div>lag, messages<b id="lag">0</b></div>
  <div>watermark age, s<b id="watermark-age">–</b></div>
  <div>latency p99 since start, ms<b id="latency-p99">–</b></div>
  <div>partitions owned<b id="owned">0</b></div>
</div>
<div class="charts">
  <div class="chart" id="chart-rates"><h2>events/s: read, processed, out</h2></div>
  <div class="chart" id="chart-lag"><h2>lag (messages)</h2></div>
  <div class="chart" id="chart-watermark"><h2>watermark age (s)</h2></div>
  <div class="chart" id="chart-latency"><h2>end-to-end latency (ms) of each second's events: p50, p99</h2></div>
</div>
<h2>dead letters by reason</h2>
<table id="reasons"><thead><tr><th class="l">reason</th><th>count</th></tr></thead><tbody></tbody></table>
<h2>partitions</h2>
<table id="partitions"><thead><tr><th>partition</th><th>lag</th></tr></thead><tbody></tbody></table>
<script src="/ui/uplot.js"></script>
<script>
const KEEP = 300;
const series = { t: [], read: [], processed: [], out: [], lag: [], wm: [], p50: [], p99: [] };
window.weirSeries = series; // what the charts draw, for tools (and the page test) to read
let last;
const size = () => ({ width: Math.min(560, document.querySelector(".chart").clientWidth || 460), height: 200 });
const chart = (id, labels, keys) =>
  new uPlot({ ...size(), series: [{}, ...labels.map((label, i) => ({ label, stroke: ["#2a6fdb", "#1a9c4b", "#d2791b"][i], width: 1.5 }))], axes: [{}, { size: 70 }] },
    [series.t, ...keys.map((k) => series[k])], document.getElementById(id));
const charts = [
  [chart("chart-rates", ["read", "processed", "out"], ["read", "processed", "out"]), ["read", "processed", "out"]],
  [chart("chart-lag", ["lag"], ["lag"]), ["lag"]],
  [chart("chart-watermark", ["age"], ["wm"]), ["wm"]],
  [chart("chart-latency", ["p50", "p99"], ["p50", "p99"]), ["p50", "p99"]],
];
/** A quantile of histogram counts (upper bounds, the last bucket above them), interpolated within its bucket. */
const quantile = (q, bounds, counts) => {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0 && below + counts[i] >= q * total) {
      if (i === bounds.length) return bounds[bounds.length - 1];
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * ((q * total - below) / counts[i]);
    }
    below += counts[i];
  }
  return bounds[bounds.length - 1];
};
const set = (id, v) => (document.getElementById(id).textContent = v);
const fmt = (x, d = 0) => (x === undefined || x === null || !Number.isFinite(x) ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: d }));
const rows = (id, list) => {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...list.map((cells) => { const tr = document.createElement("tr"); cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i === 0 && id === "reasons") td.className = "l"; tr.append(td); }); return tr; }));
};
async function tick() {
  let d;
  try { d = await (await fetch("/ui/data", { cache: "no-store" })).json(); } catch { return; }
  const lag = d.lag.reduce((n, [, x]) => n + x, 0) + d.repartitionLag;
  const dead = Object.values(d.deadLetters).reduce((a, b) => a + b, 0);
  const secs = last ? (d.time - last.time) / 1000 : 0;
  const rate = (k) => (last && secs > 0 ? Math.max(0, (d[k] - last[k]) / secs) : 0);
  const push = (k, v) => { series[k].push(v); if (series[k].length > KEEP) series[k].shift(); };
  push("t", d.time / 1000); push("read", rate("received")); push("processed", rate("processed")); push("out", rate("emitted"));
  push("lag", lag); push("wm", Number.isFinite(d.watermarkAgeMs) ? d.watermarkAgeMs / 1000 : null);
  // Of the events applied since the last refresh: the histogram's counts then and now.
  const lb = d.latencyBuckets;
  const recent = last ? lb.counts.map((n, i) => n - last.latencyBuckets.counts[i]) : lb.counts;
  const ms = (q) => { const v = quantile(q, lb.bounds, recent); return v === null ? null : v * 1000; };
  push("p50", ms(0.5)); push("p99", ms(0.99));
  for (const [c, keys] of charts) c.setData([series.t, ...keys.map((k) => series[k])]);
  set("app", d.app);
  const state = document.getElementById("state");
  state.textContent = d.ready ? "ready" : "not ready"; state.className = d.ready ? "ready" : "not-ready";
  set("processed", fmt(d.processed)); set("in-rate", fmt(rate("received"))); set("emitted", fmt(d.emitted)); set("dead-letters", fmt(dead));
  set("lag", fmt(lag)); set("watermark-age", fmt(Number.isFinite(d.watermarkAgeMs) ? d.watermarkAgeMs / 1000 : undefined, 1));
  set("latency-p99", fmt(d.latency.p99 !== undefined ? d.latency.p99 * 1000 : undefined, 1)); set("owned", d.owned.length + " of " + d.partitions);
  rows("reasons", Object.entries(d.deadLetters).sort((a, b) => b[1] - a[1]).map(([r, n]) => [r, fmt(n)]));
  rows("partitions", d.lag.map(([p, n]) => [String(p), fmt(n)]));
  last = d;
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;

// Live: throughput, latency and error rate per model version, from deltas of the cumulative
// Open Inference Protocol statistics (GET /v2/models/stats), polled every second.

import { ApiError, api } from "../api.js";
import { PALETTE, timeChart } from "../charts.js";
import { h, number, panel, percent, table } from "../dom.js";
import { reportError } from "../shell.js";

const POLL_MS = 1000;
const KEEP_POINTS = 180;

// Kept across visits to the page, so coming back shows the recent past.
const history = { times: [], series: new Map(), previous: null };

function key(entry) {
  return `${entry.name}:${entry.version}`;
}

function counters(entry) {
  const s = entry.inference_stats;
  return {
    ok: s.success.count, okNs: s.success.ns, fail: s.fail.count,
    queueNs: s.queue.ns, inputNs: s.compute_input.ns, inferNs: s.compute_infer.ns, outputNs: s.compute_output.ns,
  };
}

/** Rates between two snapshots; a counter that went down means the server restarted: no rate. */
function rates(before, now, seconds) {
  const ok = now.ok - before.ok;
  const fail = now.fail - before.fail;
  if (ok < 0 || fail < 0 || seconds <= 0) return { rps: null, latencyMs: null, errorPct: null };
  const total = ok + fail;
  return {
    rps: total / seconds,
    latencyMs: ok > 0 ? (now.okNs - before.okNs) / ok / 1e6 : null,
    errorPct: total > 0 ? (100 * fail) / total : null,
  };
}

function record(stats, at) {
  const snapshot = new Map(stats.model_stats.map((entry) => [key(entry), counters(entry)]));
  const previous = history.previous;
  history.previous = { at, snapshot };
  if (!previous) return;
  const seconds = (at - previous.at) / 1000;
  history.times.push(at / 1000);
  for (const [name, now] of snapshot) {
    if (!history.series.has(name)) {
      const gap = () => Array(history.times.length - 1).fill(null);
      history.series.set(name, { rps: gap(), latencyMs: gap(), errorPct: gap(), totals: now });
    }
    const series = history.series.get(name);
    const before = previous.snapshot.get(name);
    const point = before ? rates(before, now, seconds) : { rps: null, latencyMs: null, errorPct: null };
    series.rps.push(point.rps);
    series.latencyMs.push(point.latencyMs);
    series.errorPct.push(point.errorPct);
    series.totals = now;
  }
  for (const series of history.series.values()) {
    for (const values of [series.rps, series.latencyMs, series.errorPct]) {
      while (values.length < history.times.length) values.push(null);
    }
  }
  if (history.times.length > KEEP_POINTS) {
    history.times.shift();
    for (const series of history.series.values()) {
      series.rps.shift();
      series.latencyMs.shift();
      series.errorPct.shift();
    }
  }
}

function lastValue(values) {
  for (let i = values.length - 1; i >= Math.max(0, values.length - 3); i--) if (values[i] !== null) return values[i];
  return null;
}

function summaryRows(names) {
  return names.map((name, i) => {
    const s = history.series.get(name);
    const t = s.totals;
    const stage = (ns) => (t.ok ? `${number(ns / t.ok / 1e6)}` : "–");
    return h("tr", { "data-series": name },
      h("td", null, h("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), h("span", { class: "mono" }, name)),
      h("td", { class: "num rps" }, number(lastValue(s.rps) ?? 0)),
      h("td", { class: "num" }, number(lastValue(s.latencyMs))),
      h("td", { class: "num" }, lastValue(s.errorPct) === null ? "–" : percent(lastValue(s.errorPct) / 100)),
      h("td", { class: "num total" }, number(t.ok + t.fail)),
      h("td", { class: "num" }, number(t.fail)),
      h("td", { class: "num muted" }, `${stage(t.queueNs)} · ${stage(t.inputNs)} · ${stage(t.inferNs)} · ${stage(t.outputNs)}`));
  });
}

export async function renderLive(main) {
  main.append(h("div", { class: "page-title" }, h("h1", null, "Live traffic"),
    h("span", { class: "muted" }, `per model version · updated every ${POLL_MS / 1000} s · last ${KEEP_POINTS / 60} min`)));
  const boxes = {
    rps: h("div", { class: "chart", id: "chart-throughput" }),
    latencyMs: h("div", { class: "chart", id: "chart-latency" }),
    errorPct: h("div", { class: "chart", id: "chart-errors" }),
  };
  const summary = h("tbody");
  main.append(
    panel("Throughput (requests/s)", boxes.rps),
    h("div", { class: "grid-2" }, panel("Mean latency (ms)", boxes.latencyMs), panel("Error rate (%)", boxes.errorPct)),
    panel("Now", h("table", { class: "live-summary" },
      h("thead", null, h("tr", null, ["version", "req/s", "latency ms", "errors", "requests", "failed", "mean ms: queue · input · infer · output"].map((t) => h("th", null, t)))),
      summary)),
  );
  let charts = null;
  let names = [];
  let timer = null;
  let stopped = false;

  const draw = () => {
    const current = [...history.series.keys()].sort();
    if (!charts || current.join() !== names.join()) {
      if (charts) Object.values(charts).forEach((c) => c.destroy());
      names = current;
      charts = {
        rps: timeChart(boxes.rps, { names, unit: "req/s", height: 240 }),
        latencyMs: timeChart(boxes.latencyMs, { names, unit: "ms", floor: 0.1 }),
        errorPct: timeChart(boxes.errorPct, { names, unit: "%", floor: 5 }),
      };
    }
    for (const [metric, chart] of Object.entries(charts)) {
      chart.update([history.times.slice(), ...names.map((n) => history.series.get(n)[metric].slice())]);
    }
    summary.replaceChildren(...summaryRows(names));
  };

  const poll = async () => {
    try {
      record(await api.stats(), Date.now());
      if (!stopped) draw();
    } catch (error) {
      reportError(error);
      if (error instanceof ApiError && error.status === 401) return;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };
  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (charts) Object.values(charts).forEach((c) => c.destroy());
  };
}

// Drift: per feature and per output, reference vs live distributions with their statistics and a
// status colour, from GET /api/v1/drift/{name}.

import { ApiError, api } from "../api.js";
import { PALETTE, REFERENCE_COLOUR, barChart, binLabels } from "../charts.js";
import { ago, empty, h, number, panel, pill, stat } from "../dom.js";

let windowRows = 1000;

async function names() {
  const [models, endpoints] = await Promise.all([api.models(), api.endpoints()]);
  return [...endpoints.map((e) => e.name), ...models.map((m) => m.name)];
}

export async function renderDrift(main, name) {
  const choices = await names();
  const chosen = name || choices[0];
  const select = h("select", { id: "drift-name", "aria-label": "model or endpoint" },
    choices.map((n) => h("option", { value: n, selected: n === chosen }, n)));
  const windowInput = h("input", { type: "number", id: "drift-window", min: 1, step: 100, value: windowRows, "aria-label": "window (rows)" });
  const show = () => {
    windowRows = Number(windowInput.value) || 1000;
    const target = `#/drift/${encodeURIComponent(select.value)}`;
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = target;
  };
  select.addEventListener("change", show);
  windowInput.addEventListener("change", show);
  main.append(h("div", { class: "page-title" }, h("h1", null, "Drift"), h("span", { class: "spacer" }),
    h("label", { class: "inline" }, "for ", select), h("label", { class: "inline" }, "last ", windowInput, " rows")));
  if (!chosen) {
    main.append(panel(null, empty("Nothing registered yet.")));
    return undefined;
  }
  let report;
  try {
    report = await api.drift(chosen, windowRows);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    main.append(h("div", { class: "panel notice", id: "drift-error" }, h("strong", null, `No drift report for ${chosen}`), h("p", null, error.message)));
    return undefined;
  }
  const charts = [];
  main.append(summary(report));
  main.append(featureSection("Input features", report.features, charts));
  main.append(featureSection("Outputs (prediction drift)", report.outputs, charts));
  return () => charts.forEach((chart) => chart.destroy());
}

function summary(report) {
  return h("section", { class: `panel drift-summary status-${report.status}`, id: "drift-summary" },
    h("div", { class: "drift-status" }, pill(report.status.replace("_", " "), report.status),
      h("h2", null, `${report.name}`), h("span", { class: "mono muted" }, `${report.model}:${report.version}`)),
    report.reason ? h("p", { class: "drift-reason" }, report.reason) : null,
    notes(report).map((note) => h("p", { class: "drift-reason drift-note" }, note)),
    h("div", { class: "stat-row" },
      stat(number(report.live_rows), `live rows (window ${number(report.window)})`),
      stat(number(report.reference.rows), `reference rows (${report.reference.source})`),
      stat(count(report, "alert"), "alerts"),
      stat(count(report, "warning"), "warnings"),
      stat(ago(report.computed_at), "computed", null, report.computed_at)));
}

// What could not be compared (each makes the report an alert), and why outputs were left out.
function notes(report) {
  const unmatched = report.unmatched_features || {};
  return [
    ...(report.type_mismatches || []).map((m) => `${m.feature}: ${m.live} live against ${m.reference} in the reference (type mismatch)`),
    ...(unmatched.live_only?.length ? [`not in the reference: ${unmatched.live_only.join(", ")}`] : []),
    ...(unmatched.reference_only?.length ? [`no live values: ${unmatched.reference_only.join(", ")}`] : []),
    ...(report.outputs_reason ? [`outputs: ${report.outputs_reason}`] : []),
  ];
}

function count(report, status) {
  return String([...report.features, ...report.outputs].filter((f) => f.status === status).length);
}

function statistics(feature) {
  const s = feature.statistics;
  const items = feature.kind === "numeric"
    ? [["PSI", s.psi], ["PSI p", s.psi_pvalue], ["KS p", s.ks_pvalue]]
    : [["JS", s.js], ["χ² p", s.chi2_pvalue], ["new p", s.new_pvalue]];
  items.push(["missing share", feature.missing?.live]);
  return h("dl", { class: "statistics" }, items.map(([label, value]) => [h("dt", null, label), h("dd", null, number(value))]));
}

function featureSection(title, features, charts) {
  if (!features.length) return panel(title, empty("none"));
  const order = { alert: 0, warning: 1, ok: 2, insufficient_data: 3 };
  const sorted = [...features].sort((a, b) => order[a.status] - order[b.status]);
  return panel(title, h("div", { class: "features" }, sorted.map((feature) => {
    const chartBox = h("div", { class: "chart small-chart" });
    const hist = feature.histogram;
    const labels = feature.kind === "numeric" ? binLabels(hist.edges) : hist.categories.map(String);
    queueMicrotask(() => charts.push(barChart(chartBox, {
      labels,
      series: [{ label: "reference", values: hist.reference, colour: REFERENCE_COLOUR }, { label: "live", values: hist.live, colour: PALETTE[0] }],
    })));
    return h("article", { class: `feature status-${feature.status}`, "data-feature": feature.feature, "data-status": feature.status },
      h("header", null, h("h3", { class: "mono" }, feature.feature), h("span", { class: "muted small" }, feature.kind),
        h("span", { class: "spacer" }), pill(feature.status, feature.status)),
      statistics(feature), chartBox);
  })));
}

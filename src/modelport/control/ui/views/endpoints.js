// Endpoints: routes and weights, shadows, rollout state, the shadow comparison, the A/B report, history;
// with the actions that change them (weights, promote, rollback), each confirmed in a dialog.

import { api } from "../api.js";
import { PALETTE, barChart, binLabels } from "../charts.js";
import { ago, empty, h, ms, number, panel, percent, pill, stat, table } from "../dom.js";
import { confirmThen, refreshView } from "../shell.js";

const ROLLOUT_KIND = { running: "warning", passed: "ok", rolled_back: "alert", aborted: "muted" };

function weightBar(routes) {
  const total = routes.reduce((sum, r) => sum + r.weight, 0) || 1;
  return h("div", { class: "weight-bar", role: "img", "aria-label": routes.map((r) => `${r.target} ${r.weight}`).join(", ") },
    routes.filter((r) => r.weight > 0).map((r, i) =>
      h("span", { style: `flex:${r.weight} 1 0; background:${PALETTE[i % PALETTE.length]}`, title: `${r.target}: ${r.weight}` },
        `${r.target} ${Math.round((100 * r.weight) / total)}%`)));
}

export async function renderEndpoints(main) {
  const endpoints = await api.endpoints();
  main.append(h("div", { class: "page-title" }, h("h1", null, "Endpoints"), h("span", { class: "muted" }, `${endpoints.length} configured`)));
  if (!endpoints.length) {
    main.append(panel(null, empty("No endpoints yet: create one with `modelport endpoint create NAME --route MODEL@ALIAS=100`.")));
    return;
  }
  main.append(h("div", { class: "cards" }, endpoints.map((e) => {
    const rollout = e.config.rollout;
    return h("a", { class: "panel card", href: `#/endpoints/${encodeURIComponent(e.name)}`, "data-endpoint": e.name },
      h("header", null, h("h2", null, e.name), h("span", { class: "muted" }, `revision ${e.revision}`),
        h("span", { class: "spacer" }),
        rollout ? pill(`rollout ${rollout.status.replace("_", " ")}`, ROLLOUT_KIND[rollout.status]) : null),
      e.description ? h("p", { class: "muted" }, e.description) : null,
      weightBar(e.config.routes),
      e.config.shadows.length
        ? h("p", { class: "small" }, "shadows: ", e.config.shadows.map((s) => `${s.target} (${s.percent}%)`).join(", "))
        : h("p", { class: "small muted" }, "no shadows"),
      h("p", { class: "small muted" }, `changed ${ago(e.updated_at)}`));
  })));
}

export async function renderEndpoint(main, name) {
  const [endpoint, history, rollout, shadows, report] = await Promise.all([
    api.endpoint(name), api.history(name), api.rollout(name), api.shadowReport(name), api.abReport(name),
  ]);
  main.append(
    h("div", { class: "page-title" }, h("a", { href: "#/endpoints", class: "back" }, "Endpoints"), h("h1", null, endpoint.name),
      h("span", { class: "muted" }, `revision ${endpoint.revision}`), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "danger-outline", id: "rollback", disabled: history.length < 2,
        onclick: () => rollback(endpoint, history) }, "Roll back…")),
  );
  main.append(routesPanel(endpoint));
  if (endpoint.config.rollout || endpoint.config.rollout_policy) main.append(rolloutPanel(endpoint.config, rollout.guardrails));
  const charts = [];
  main.append(shadowPanel(endpoint, shadows, charts));
  main.append(abPanel(report));
  main.append(historyPanel(history));
  return () => charts.forEach((chart) => chart.destroy());
}

function routesPanel(endpoint) {
  const inputs = new Map();
  const rows = endpoint.config.routes.map((route) => {
    const input = h("input", { type: "number", min: 0, step: 1, value: route.weight, class: "weight-input", "aria-label": `weight of ${route.target}` });
    inputs.set(route.target, input);
    return h("tr", { "data-target": route.target }, h("td", { class: "mono" }, route.target), h("td", null, input),
      h("td", { class: "actions" }, h("button", { type: "button", onclick: () => promote(endpoint, route.target) }, "Promote…")));
  });
  const shadowRows = endpoint.config.shadows.map((shadow) =>
    h("tr", { "data-target": shadow.target }, h("td", { class: "mono" }, shadow.target, " ", pill("shadow", "chip")),
      h("td", null, `${shadow.percent}% mirrored`),
      h("td", { class: "actions" }, h("button", { type: "button", onclick: () => promote(endpoint, shadow.target) }, "Promote…"))));
  return panel("Routes",
    weightBar(endpoint.config.routes),
    table(["target", "weight", ""], [...rows, ...shadowRows], { class: "routes" }),
    h("div", { class: "panel-actions" },
      h("button", { type: "button", class: "primary", id: "apply-weights", onclick: () => changeWeights(endpoint, inputs) }, "Apply weights…")));
}

async function changeWeights(endpoint, inputs) {
  const routes = endpoint.config.routes.map((r) => ({ target: r.target, weight: Number(inputs.get(r.target).value) }));
  const changed = routes.filter((r, i) => r.weight !== endpoint.config.routes[i].weight);
  const body = changed.length
    ? [h("p", null, `Change the weights of ${endpoint.name}:`),
       h("ul", null, changed.map((r) => h("li", { class: "mono" }, `${r.target}: ${endpoint.config.routes.find((o) => o.target === r.target).weight} → ${r.weight}`))),
       endpoint.config.rollout?.running ? h("p", { class: "warning-text" }, "This aborts the running rollout.") : null]
    : [h("p", null, "No weight differs from the current routes; confirming records a new revision all the same.")];
  const done = await confirmThen({ title: "Change weights", body, confirmLabel: "Apply" },
    () => api.setRoutes(endpoint.name, routes, endpoint.revision), `${endpoint.name}: weights changed.`);
  if (done) refreshView();
}

async function promote(endpoint, target) {
  const done = await confirmThen(
    { title: "Promote", body: [h("p", null, `Send all of ${endpoint.name}'s traffic to `, h("strong", { class: "mono" }, target), ".")], confirmLabel: "Promote" },
    () => api.promote(endpoint.name, target, endpoint.revision), `${endpoint.name}: all traffic goes to ${target}.`);
  if (done) refreshView();
}

async function rollback(endpoint, history) {
  const [latest] = history.slice(-1);
  const body = [h("p", null, `Undo revision ${latest.revision} of ${endpoint.name}: “${latest.summary}” (${latest.actor}, ${ago(latest.changed_at)}).`)];
  const done = await confirmThen({ title: "Roll back", body, confirmLabel: "Roll back", danger: true },
    () => api.rollback(endpoint.name, endpoint.revision), `${endpoint.name}: rolled back revision ${latest.revision}.`);
  if (done) refreshView();
}

function rolloutPanel(config, guardrails) {
  const plan = config.rollout;
  const children = [];
  if (plan) {
    children.push(
      h("div", { class: "rollout-head" }, pill(plan.status.replace("_", " "), ROLLOUT_KIND[plan.status]),
        h("span", { class: "mono" }, `${plan.baseline} → ${plan.candidate}`),
        plan.reason ? h("span", { class: "muted" }, plan.reason) : null),
      h("ol", { class: "steps" }, plan.steps.map((step, i) =>
        h("li", { class: i < plan.step ? "done" : i === plan.step ? "current" : "" }, `${step}%`))),
      h("p", { class: "small muted" }, `each step: at least ${plan.min_requests} candidate requests and ${plan.min_seconds} s`,
        plan.promote_alias ? `; on success the alias ${plan.promote_alias} moves to the candidate` : ""),
    );
  }
  if (guardrails) {
    children.push(table(["guardrail", "decision", "pairs", "baseline", "candidate", "difference (95%)"],
      Object.entries(guardrails.guardrails).map(([name, test]) => h("tr", null, h("td", null, name),
        h("td", null, pill(test.decision || "undecided", test.decision === "reject" ? "alert" : test.decision === "accept" ? "ok" : "muted")),
        h("td", null, String(test.pairs)), h("td", null, percent(test.baseline.rate)), h("td", null, percent(test.canary.rate)),
        h("td", null, test.difference_interval_95.map((x) => percent(x)).join(" … ")))), { class: "guardrails" }));
  }
  if (config.rollout_policy) {
    children.push(h("p", { class: "small" }, `Rollout policy: alias moves reach this endpoint in steps ${config.rollout_policy.steps.join(" → ")}%.`));
  }
  return panel("Rollout", children);
}

function shadowPanel(endpoint, report, charts) {
  const entries = Object.entries(report.shadows);
  if (!entries.length) return panel("Shadow comparison", empty(endpoint.config.shadows.length ? "No shadowed requests yet." : "This endpoint has no shadow."));
  return panel("Shadow comparison", entries.map(([target, comparison]) => {
    const w = comparison.window;
    const lat = w.latency_s || {};
    const outputs = Object.entries(w.outputs || {});
    return h("div", { class: "shadow", "data-shadow": target },
      h("h3", null, h("span", { class: "mono" }, target), " vs primary", h("span", { class: "muted small" }, ` · last ${w.count} of ${comparison.total.count} requests`)),
      h("div", { class: "stat-row" },
        ...outputs.filter(([, o]) => o.kind === "label").map(([name, o]) => stat(percent(o.agreement_rate), `${name} agreement`, o.agreement_rate >= 0.95 ? "ok" : o.agreement_rate >= 0.8 ? "warning" : "alert")),
        stat(`${ms(lat.primary?.p50)} / ${ms(lat.shadow?.p50)}`, "p50 primary / shadow"),
        stat(`${ms(lat.primary?.p99)} / ${ms(lat.shadow?.p99)}`, "p99 primary / shadow"),
        stat(`${w.primary_errors} / ${w.shadow_errors}`, "errors primary / shadow", w.shadow_errors > w.primary_errors ? "alert" : "")),
      h("div", { class: "grid-2" }, outputs.filter(([, o]) => o.kind === "float").map(([name, o]) => {
        const chartBox = h("div", { class: "chart small-chart" });
        const box = h("div", { class: "subpanel" }, h("h4", null, name),
          h("p", { class: "small" }, `mean |Δ| ${number(o.mean_abs_diff)} · max |Δ| ${number(o.max_abs_diff)} · correlation ${number(o.correlation)}`), chartBox);
        if (o.histogram) {
          queueMicrotask(() => charts.push(barChart(chartBox, {
            labels: binLabels(o.histogram.edges), percentAxis: false,
            series: [{ label: "primary", values: o.histogram.primary, colour: PALETTE[0] }, { label: "shadow", values: o.histogram.shadow, colour: PALETTE[1] }],
          })));
        }
        return box;
      })));
  }), h("p", { class: "small muted" }, `copies dropped: ${report.dropped_total}`));
}

function abPanel(report) {
  const variants = Object.entries(report.variants);
  if (!variants.length) return panel("A/B report", empty("No requests through this endpoint yet."));
  const interval = (ci) => (ci ? `${percent(ci[0])} … ${percent(ci[1])}` : "–");
  const rows = variants.map(([target, v]) => h("tr", null, h("td", { class: "mono" }, target), h("td", null, number(v.requests)),
    h("td", null, percent(v.failure_rate, 2), h("div", { class: "muted small" }, interval(v.failure_rate_ci95))),
    h("td", null, `${number(v.latency_p50_ms)} / ${number(v.latency_p99_ms)} ms`),
    h("td", null, v.accuracy !== undefined ? [percent(v.accuracy), h("div", { class: "muted small" }, interval(v.accuracy_ci95))]
      : v.mean_abs_error !== undefined ? `MAE ${number(v.mean_abs_error)}` : "–"),
    h("td", null, number(v.feedback_rows))));
  const comparisons = report.comparisons.map((c) => h("li", null, h("span", { class: "mono" }, `${c.a} vs ${c.b}`), ": failure rate difference ",
    interval(c.failure_rate_difference_ci95), " ", pill(c.failure_rate_significant ? "significant" : "not significant", c.failure_rate_significant ? "warning" : "muted"),
    c.accuracy_difference_ci95 ? [", accuracy difference ", interval(c.accuracy_difference_ci95), " ", pill(c.accuracy_significant ? "significant" : "not significant", c.accuracy_significant ? "warning" : "muted")] : null));
  return panel("A/B report", table(["variant", "requests", "failure rate", "latency p50 / p99", "quality", "feedback rows"], rows, { class: "ab" }),
    comparisons.length ? h("ul", { class: "comparisons" }, comparisons) : null);
}

function historyPanel(history) {
  const rows = [...history].reverse().slice(0, 12).map((c) => h("tr", null, h("td", null, String(c.revision)),
    h("td", { title: c.changed_at }, ago(c.changed_at)), h("td", null, c.actor), h("td", null, c.summary,
      c.restored_from ? h("span", { class: "muted" }, ` (restores ${c.restored_from})`) : null)));
  return panel("History", table(["revision", "when", "who", "change"], rows, { class: "history" }));
}

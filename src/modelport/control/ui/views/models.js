// Models: the registry's models and versions (signature, lineage, tags, aliases) and what this server loaded.

import { api } from "../api.js";
import { ago, chips, empty, h, panel, pill, shape, stat, table } from "../dom.js";
import { confirmThen, flash, refreshView } from "../shell.js";

function signatureLine(signature) {
  const side = (specs) => specs.map((s) => `${s.name} ${s.datatype} ${shape(s.shape)}`).join(", ");
  return `${side(signature.inputs)} → ${side(signature.outputs)}`;
}

function loadState(status, target) {
  if (target in status.failures) return pill("failed to load", "alert");
  const loaded = status.loaded.find((v) => v.target === target);
  return loaded ? pill("loaded", "ok") : pill("not loaded", "muted");
}

function serverPanel(status) {
  const failures = Object.entries(status.failures);
  return panel(
    "This server",
    h(
      "div",
      { class: "stat-row" },
      stat(status.ready ? "ready" : "starting", "state", status.ready ? "ok" : "warning"),
      stat(status.loaded.length, "versions loaded"),
      stat(failures.length, "load failures", failures.length ? "alert" : "ok"),
      stat(status.registry_revision, "registry revision"),
    ),
    status.loaded.length
      ? table(
          ["loaded version", "framework", "sha256", "in flight"],
          status.loaded.map((v) => h("tr", { "data-loaded": v.target }, h("td", { class: "mono" }, v.target), h("td", null, v.framework),
            h("td", { class: "mono muted", title: v.digest }, `${v.digest.slice(0, 16)}…`), h("td", { class: "num" }, String(v.in_flight)))),
          { class: "loaded" },
        )
      : null,
    failures.length
      ? table(
          ["version", "load failure"],
          failures.map(([target, message]) => h("tr", { class: "failure" }, h("td", null, target), h("td", null, message))),
          { class: "failures" },
        )
      : null,
  );
}

export async function renderModels(main) {
  const [models, status] = await Promise.all([api.models(), api.status()]);
  const details = await Promise.all(models.map((m) => api.model(m.name)));
  main.append(h("div", { class: "page-title" }, h("h1", null, "Models"), h("span", { class: "muted" }, `${models.length} registered`)));
  if (!models.length) {
    main.append(panel(null, empty("No models yet: register one with `modelport register PATH --name NAME`.")), serverPanel(status));
    return;
  }
  const rows = details.map((model) => {
    const latest = model.versions.find((v) => v.version === model.latest_version) || model.versions.at(-1);
    const loaded = model.versions.map((v) => `${model.name}:${v.version}`).filter((t) => status.loaded.some((l) => l.target === t));
    return h(
      "tr",
      { "data-model": model.name },
      h("td", null, h("a", { href: `#/models/${encodeURIComponent(model.name)}`, class: "strong" }, model.name),
        h("div", { class: "muted small" }, model.description || latest?.description || "")),
      h("td", null, latest ? `v${latest.version}` : "–", h("div", { class: "muted small" }, latest?.framework || "")),
      h("td", null, String(model.version_count)),
      h("td", null, chips(Object.entries(model.aliases).map(([alias, v]) => `${alias} → v${v}`), "alias")),
      h("td", { class: "mono small" }, latest ? signatureLine(latest.signature) : "–"),
      h("td", null, loaded.length ? chips(loaded.map((t) => t.split(":").at(-1)).map((v) => `v${v}`), "ok") : pill("none", "muted")),
    );
  });
  main.append(panel("Registry", table(["model", "latest", "versions", "aliases", "signature (latest)", "loaded"], rows, { class: "models" })));
  main.append(serverPanel(status));
}

export async function renderModel(main, name) {
  const [model, status, endpoints] = await Promise.all([api.model(name), api.status(), api.endpoints()]);
  main.append(
    h("div", { class: "page-title" },
      h("a", { href: "#/models", class: "back" }, "Models"), h("h1", null, model.name),
      h("span", { class: "muted" }, `policy ${model.policy.kind}${model.policy.n ? ` ${model.policy.n}` : ""}`)),
  );
  main.append(h("div", { class: "grid-2" }, aliasPanel(model, endpoints), usedByPanel(model, endpoints)));
  const versions = [...model.versions].sort((a, b) => b.version - a.version);
  main.append(h("div", { class: "versions" }, versions.map((v) => versionCard(v, status))));
}

function aliasPanel(model, endpoints) {
  const numbers = model.versions.map((v) => v.version).sort((a, b) => b - a);
  const versionSelect = (current) =>
    h("select", { class: "version-select", "aria-label": "version" },
      numbers.map((n) => h("option", { value: n, selected: n === current }, `v${n}`)));
  const rows = Object.entries(model.aliases).map(([alias, current]) => {
    const select = versionSelect(current);
    return h("tr", { "data-alias": alias },
      h("td", null, pill(alias, "alias")), h("td", null, `v${current}`),
      h("td", { class: "actions" }, select,
        h("button", { type: "button", onclick: () => moveAlias(model, alias, current, Number(select.value), endpoints) }, "Move…")));
  });
  const aliasInput = h("input", { type: "text", placeholder: "new alias", class: "alias-input", "aria-label": "new alias" });
  const newSelect = versionSelect(model.latest_version);
  rows.push(h("tr", { class: "new-alias" }, h("td", null, aliasInput), h("td", null, "–"),
    h("td", { class: "actions" }, newSelect, h("button", {
      type: "button",
      onclick: () => moveAlias(model, aliasInput.value.trim(), null, Number(newSelect.value), endpoints),
    }, "Set…"))));
  return panel("Aliases", table(["alias", "points at", "move to"], rows, { class: "aliases" }));
}

function usedByPanel(model, endpoints) {
  const ofModel = (target) => target.startsWith(`${model.name}@`) || target.startsWith(`${model.name}:`);
  const rows = endpoints.flatMap((e) => [
    ...e.config.routes.filter((r) => ofModel(r.target)).map((r) => [e, r.target, `weight ${r.weight}`]),
    ...e.config.shadows.filter((s) => ofModel(s.target)).map((s) => [e, s.target, `shadow ${s.percent}%`]),
  ]).map(([e, target, role]) => h("tr", null,
    h("td", null, h("a", { href: `#/endpoints/${encodeURIComponent(e.name)}` }, e.name)), h("td", { class: "mono" }, target), h("td", null, role)));
  return panel("Served through endpoints", rows.length ? table(["endpoint", "target", "share"], rows) : empty("No endpoint routes to this model; call it by name."));
}

async function moveAlias(model, alias, current, version, endpoints) {
  if (!alias) {
    flash("Type the new alias's name first.");
    return;
  }
  const target = `${model.name}@${alias}`;
  const followers = endpoints.filter((e) => e.config.routes.some((r) => r.target === target && r.weight > 0));
  const body = [
    h("p", null, current === null
      ? `Create the alias ${target} pointing at version ${version}.`
      : `Move ${target} from version ${current} to version ${version}.`),
  ];
  if (followers.length) {
    body.push(h("p", null, "Endpoints that route by this alias follow it: ",
      followers.map((e) => `${e.name}${e.config.rollout_policy ? " (through a guarded rollout)" : ""}`).join(", "), "."));
  }
  const done = await confirmThen(
    { title: current === null ? "Create alias" : "Move alias", body, confirmLabel: current === null ? "Create" : "Move" },
    () => api.moveAlias(model.name, alias, version),
    `${target} now points at version ${version}.`,
  );
  if (done) refreshView();
}

function versionCard(version, status) {
  const target = `${version.name}:${version.version}`;
  const specRows = (kind, specs) =>
    specs.map((s) => h("tr", null, h("td", { class: "muted" }, kind), h("td", { class: "mono" }, s.name),
      h("td", { class: "mono" }, s.datatype), h("td", { class: "mono" }, shape(s.shape))));
  const pairs = (object) => Object.entries(object).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]);
  return h(
    "article",
    { class: "panel version", "data-version": version.version },
    h("header", null,
      h("h2", null, `v${version.version}`),
      pill(version.framework, "chip"),
      version.aliases.length ? chips(version.aliases, "alias") : null,
      h("span", { class: "spacer" }),
      loadState(status, target)),
    version.description ? h("p", null, version.description) : null,
    target in status.failures ? h("p", { class: "failure" }, status.failures[target]) : null,
    h("div", { class: "version-grid" },
      h("div", null, h("h3", null, "Signature"),
        table(["", "name", "dtype", "shape"], [...specRows("in", version.signature.inputs), ...specRows("out", version.signature.outputs)], { class: "signature" })),
      h("div", null,
        h("h3", null, "Lineage"),
        Object.keys(version.lineage).length ? h("dl", { class: "lineage" }, pairs(version.lineage)) : empty("none recorded"),
        h("h3", null, "Tags"),
        Object.keys(version.tags).length ? chips(Object.entries(version.tags).map(([k, v]) => `${k}=${v}`)) : empty("none"),
        h("h3", null, "Artifact"),
        h("dl", null,
          h("dt", null, "file"), h("dd", null, `${version.filename} (${(version.size / 1024).toFixed(1)} KiB)`),
          h("dt", null, "sha256"), h("dd", { class: "mono", title: version.digest }, version.digest.slice(0, 16) + "…"),
          h("dt", null, "reference data"), h("dd", null, version.has_reference_data ? "yes" : "no"),
          h("dt", null, "registered"), h("dd", { title: version.created_at }, ago(version.created_at))))),
  );
}

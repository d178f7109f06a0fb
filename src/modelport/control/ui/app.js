// The dashboard: a hash router over a few views, each of which renders into <main>.

import { ApiError, api } from "./api.js";
import { duration, h, pill } from "./dom.js";
import { askForToken, clearFlash, initShell } from "./shell.js";
import { renderDrift } from "./views/drift.js";
import { renderEndpoint, renderEndpoints } from "./views/endpoints.js";
import { renderJobs } from "./views/jobs.js";
import { renderLive } from "./views/live.js";
import { renderModel, renderModels } from "./views/models.js";

const ROUTES = [
  [/^\/models\/(.+)$/, "models", (m) => (main) => renderModel(main, m[1])],
  [/^\/models$/, "models", () => renderModels],
  [/^\/endpoints\/(.+)$/, "endpoints", (m) => (main) => renderEndpoint(main, m[1])],
  [/^\/endpoints$/, "endpoints", () => renderEndpoints],
  [/^\/live$/, "live", () => renderLive],
  [/^\/drift\/(.+)$/, "drift", (m) => (main) => renderDrift(main, m[1])],
  [/^\/drift$/, "drift", () => (main) => renderDrift(main, null)],
  [/^\/jobs$/, "jobs", () => renderJobs],
];

const main = document.getElementById("main");
let cleanup = null;
let rendering = 0;

function match(path) {
  for (const [pattern, page, view] of ROUTES) {
    const found = pattern.exec(path);
    if (found) return { page, view: view(found.map((part) => part && decodeURIComponent(part))) };
  }
  return null;
}

async function render() {
  const path = location.hash.replace(/^#/, "") || "/models";
  const route = match(path);
  if (!route) {
    location.hash = "#/models";
    return;
  }
  if (cleanup) cleanup();
  cleanup = null;
  const ticket = ++rendering;
  for (const tab of document.querySelectorAll(".tabs a")) {
    tab.classList.toggle("active", tab.dataset.page === route.page);
  }
  const view = h("div", { class: "view", "aria-busy": "true" });
  main.replaceChildren(view);
  try {
    const stop = await route.view(view);
    if (ticket === rendering) cleanup = stop || null;
    else if (stop) stop();
  } catch (error) {
    showLoadError(view, error);
  } finally {
    view.removeAttribute("aria-busy");
  }
  refreshStatus();
}

function showLoadError(view, error) {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.status === 401) askForToken(message);
  view.replaceChildren(h("div", { class: "load-error" }, h("strong", null, "Could not load this page"), h("p", null, message)));
}

async function refreshStatus() {
  const box = document.getElementById("server-status");
  try {
    const status = await api.status();
    const failures = Object.entries(status.failures);
    const failed = pill(`${failures.length} failed`, "alert");
    failed.title = failures.map(([target, why]) => `${target}: ${why}`).join("\n");
    // An alias whose version cannot be loaded (yet) is still answered by the version it had.
    const held = status.held_aliases.map((a) => {
      const note = pill(`${a.model}@${a.alias} still on ${a.model}:${a.serving}`, "alert");
      note.title = `${a.model}@${a.alias} points at version ${a.version}: ${a.reason}`;
      return note;
    });
    const parts = [
      pill(status.ready ? "ready" : "starting", status.ready ? "ok" : "warning"),
      h("span", null, `revision ${status.registry_revision}`),
      h("span", null, `${status.loaded.length} loaded`),
      failures.length ? failed : null,
      ...held,
      h("span", { class: "muted" }, `up ${duration(status.uptime_s)}`),
    ];
    box.replaceChildren(...parts.filter(Boolean));
  } catch {
    box.replaceChildren();
  }
}

const STATUS_EVERY_MS = 10_000;

initShell(render);
setInterval(refreshStatus, STATUS_EVERY_MS);
window.addEventListener("hashchange", () => {
  clearFlash();
  render();
});
render();

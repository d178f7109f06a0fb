// Jobs: the batch jobs this server's registry holds (`modelport jobs submit`), their progress, and
// Cancel for the ones not finished. Redrawn every two seconds while any job is queued or running.

import { api } from "../api.js";
import { ago, empty, h, number, panel, pill, table } from "../dom.js";
import { confirmThen, reportError } from "../shell.js";

const POLL_MS = 2000;
const STATE_KIND = { queued: "muted", running: "warning", succeeded: "ok", failed: "alert", cancelled: "muted" };
const UNFINISHED = new Set(["queued", "running"]);

function progress(job) {
  const done = job.rows_done.toLocaleString("en");
  if (job.rows_total === null || job.rows_total === undefined) {
    return h("span", null, `${done} rows`);
  }
  const fraction = job.rows_total ? job.rows_done / job.rows_total : 1;
  return h(
    "div",
    { class: "job-progress" },
    h("progress", { max: String(job.rows_total || 1), value: String(job.rows_done), "aria-label": `job ${job.id} progress` }),
    h("span", { class: "small" }, `${done} / ${job.rows_total.toLocaleString("en")} (${(fraction * 100).toFixed(0)} %)`),
  );
}

function row(job) {
  const finished = job.finished_at ? `finished ${ago(job.finished_at)}` : job.started_at ? `started ${ago(job.started_at)}` : `submitted ${ago(job.created_at)}`;
  return h(
    "tr",
    { "data-job": job.id },
    h("td", { class: "mono" }, job.id, h("div", { class: "muted small" }, finished)),
    h("td", null, pill(job.state, STATE_KIND[job.state])),
    h("td", null, h("span", { class: "mono" }, job.target), h("div", { class: "muted small" }, `${job.model}:${job.version}`)),
    h("td", { class: "mono small" }, job.input, h("div", null, `→ ${job.output}`)),
    h("td", null, progress(job)),
    h("td", { class: "num" }, number(job.rows_per_s)),
    h("td", { class: "num" }, job.rows_failed ? pill(job.rows_failed.toLocaleString("en"), "alert") : "0"),
    h("td", { class: "small" }, job.message || ""),
    h("td", { class: "actions" },
      UNFINISHED.has(job.state) ? h("button", { type: "button", class: "danger-outline", onclick: () => cancel(job) }, "Cancel…") : null),
  );
}

function jobsTable(jobs) {
  if (!jobs.length) {
    return panel(null, empty("No jobs yet: submit one with `modelport jobs submit TARGET INPUT OUTPUT` (docs/batch.md)."));
  }
  const headings = ["job", "state", "target", "input → output", "progress", "rows/s", "bad rows", "message", ""];
  return panel(null, table(headings, jobs.map(row), { class: "jobs" }));
}

async function cancel(job) {
  const body = [h("p", null, `Stop job `, h("strong", { class: "mono" }, job.id), ` (${job.target}). Its output keeps the parts already written; its manifest will say cancelled.`)];
  await confirmThen({ title: "Cancel job", body, confirmLabel: "Cancel job", danger: true }, () => api.cancelJob(job.id), `Job ${job.id}: cancel requested.`);
  redraw();
}

let redraw = () => {};

export async function renderJobs(main) {
  const title = h("span", { class: "muted" });
  const holder = h("div");
  main.append(h("div", { class: "page-title" }, h("h1", null, "Jobs"), title), holder);
  let timer = null;
  const draw = (jobs) => {
    title.textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}, ${jobs.filter((j) => UNFINISHED.has(j.state)).length} unfinished`;
    holder.replaceChildren(jobsTable(jobs));
  };
  redraw = async () => {
    try {
      draw((await api.jobs()).jobs);
    } catch (error) {
      reportError(error);
    }
  };
  draw((await api.jobs()).jobs);
  timer = setInterval(redraw, POLL_MS);
  return () => {
    clearInterval(timer);
    redraw = () => {};
  };
}

// Building DOM nodes from data without ever parsing data as HTML, and formatting numbers for people.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function panel(title, ...children) {
  return h("section", { class: "panel" }, title ? h("h2", null, title) : null, ...children);
}

export function table(headings, rows, attrs) {
  return h(
    "table",
    attrs,
    h("thead", null, h("tr", null, headings.map((text) => h("th", null, text)))),
    h("tbody", null, rows),
  );
}

export function pill(text, kind) {
  return h("span", { class: `pill ${kind || ""}` }, text);
}

/** A figure with its label under it; ``kind`` colours it (ok, warning, alert). */
export function stat(value, label, kind, title) {
  return h("div", { class: `stat ${kind || ""}` }, h("strong", title ? { title } : null, String(value)), h("span", null, label));
}

export function chips(items, kind) {
  return h("span", { class: "chips" }, items.map((item) => pill(item, kind || "chip")));
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

export function number(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1000) return Math.round(value).toLocaleString("en");
  if (size < 0.001) return value.toExponential(1);
  return String(Number(value.toPrecision(digits)));
}

export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined) return "–";
  return `${(fraction * 100).toFixed(digits)} %`;
}

export function ms(seconds) {
  return seconds === null || seconds === undefined ? "–" : `${number(seconds * 1000)} ms`;
}

export function ago(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return iso;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString("en", { year: "numeric", month: "short", day: "numeric" });
}

export function duration(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

export function shape(dims) {
  return `[${dims.map((d) => (d < 0 ? "*" : d)).join(", ")}]`;
}

// uPlot charts sized to their container: time series for the live page, bar pairs for histograms.

export const PALETTE = ["#2563eb", "#db2777", "#0d9488", "#ea580c", "#7c3aed", "#65a30d", "#0891b2", "#b45309"];
export const REFERENCE_COLOUR = "#94a3b8";
const AXIS = { stroke: "#64748b", grid: { stroke: "#e2e8f0", width: 1 }, ticks: { stroke: "#e2e8f0", width: 1 } };

function fit(el, chart, height) {
  const observer = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height }));
  observer.observe(el);
  return () => {
    observer.disconnect();
    chart.destroy();
  };
}

/** A time-series chart; ``update(data)`` takes [times, ...one array per series]. */
export function timeChart(el, { names, unit, height = 220, digits = 3, floor = 1 }) {
  const format = (u, value) => (value === null || value === undefined ? "–" : `${Number(value.toPrecision(digits))} ${unit}`);
  const chart = new uPlot(
    {
      width: el.clientWidth || 600,
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, floor) * 1.15] } },
      axes: [{ ...AXIS, space: 80 }, { ...AXIS, size: 60, values: (u, ticks) => ticks.map((t) => Number(t.toPrecision(3))) }],
      series: [
        {},
        ...names.map((name, i) => ({
          label: name,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          spanGaps: false,
          points: { show: false },
          value: format,
        })),
      ],
    },
    [[], ...names.map(() => [])],
    el,
  );
  return { update: (data) => chart.setData(data), destroy: fit(el, chart, height) };
}

/** Side-by-side bars for two or more series over the same bins; ``labels`` name the bins. */
export function barChart(el, { labels, series, height = 180, percentAxis = true }) {
  const xs = labels.map((_, i) => i);
  // a label every few bins: as many as fit at about 90 px each
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((el.clientWidth || 320) / 90))));
  const width = 0.8 / series.length;
  const bars = (i) =>
    uPlot.paths.bars({ size: [width, 48], align: i === 0 ? -1 : 1, gap: 1 });
  const chart = new uPlot(
    {
      width: el.clientWidth || 320,
      height,
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: series.length > 1 },
      scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: (u, min, max) => [0, (max || 1) * 1.1] } },
      axes: [
        { ...AXIS, values: (u, ticks) => ticks.map((t) => labels[Math.round(t)] ?? ""), splits: () => xs.filter((i) => i % every === 0), gap: 4, size: 36 },
        { ...AXIS, size: 46, values: (u, ticks) => ticks.map((t) => (percentAxis ? `${Math.round(t * 100)}%` : String(t))) },
      ],
      series: [
        { label: "bin", value: (u, i) => (i === null ? "–" : labels[i] ?? "") },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.colour,
          fill: `${s.colour}cc`,
          width: 0,
          paths: bars(i),
          points: { show: false },
          value: (u, v) => (v === null || v === undefined ? "–" : percentAxis ? `${(v * 100).toFixed(1)}%` : String(v)),
        })),
      ],
    },
    [xs, ...series.map((s) => s.values)],
    el,
  );
  return { destroy: fit(el, chart, height) };
}

/** Short bin labels from histogram edges ("0.1–0.2"), at most a few significant digits. */
export function binLabels(edges) {
  const short = (x) => (Math.abs(x) < 1e-6 ? "0" : String(Number(x.toPrecision(3))));
  return edges.slice(0, -1).map((lo, i) => `${short(lo)}–${short(edges[i + 1])}`);
}

// One uPlot chart: lines (already aligned on one x array), optional bands, a tooltip that lists
// every line at the cursor's x sorted by value, drag-to-zoom reported upward (the page syncs the
// zoom across panels and refetches the visible range), double-click to reset.

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import { formatDate, formatDuration, formatNumber, formatTicks } from "../lib/format";
import { lonePoints, valueAt, type Aligned, type Points } from "../lib/series";

export interface SeriesSpec {
  label: string;
  color: string;
  width?: number;
  dash?: number[];
  /** hidden series carry a band's edges */
  hidden?: boolean;
}

export interface TooltipLine {
  label: string;
  color: string;
  points: Points;
}

export interface ChartModel {
  data: Aligned;
  series: SeriesSpec[];
  bands?: { upper: number; lower: number; fill: string }[];
  tooltip: TooltipLine[];
}

export type XKind = "step" | "rt" | "wall" | "metric";

interface Props {
  model: ChartModel;
  width: number;
  height: number;
  xKind: XKind;
  xLabel?: string;
  logY: boolean;
  zoom: [number, number] | null;
  onZoom: (z: [number, number] | null) => void;
  syncKey: string;
  theme: string;
  onDrawn?: () => void;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function xFormatter(kind: XKind): (v: number) => string {
  if (kind === "rt") return (v) => formatDuration(v);
  if (kind === "wall") return (v) => formatDate(v, true);
  return (v) => formatNumber(v, 6);
}

let tooltipEl: HTMLDivElement | null = null;
function tooltip(): HTMLDivElement {
  if (!tooltipEl) {
    tooltipEl = document.createElement("div");
    tooltipEl.className = "tooltip";
    tooltipEl.style.display = "none";
    tooltipEl.setAttribute("role", "tooltip");
    document.body.appendChild(tooltipEl);
  }
  return tooltipEl;
}

const MAX_TOOLTIP = 14;
const STEP_INCRS = Array.from({ length: 16 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
}

// Lone points of each y array drawn, kept until setData replaces the array: a draw (zoom,
// resize, new data) does not scan a long series again.
const loneCache = new WeakMap<object, number[] | null>();

/** uPlot's points filter: a dot where no segment reaches (null: none to draw). */
function lonePointsOf(u: uPlot, seriesIdx: number): number[] | null {
  const ys = u.data[seriesIdx] as unknown as (number | null | undefined)[];
  let idx = loneCache.get(ys);
  if (idx === undefined) {
    const lone = lonePoints(ys);
    idx = lone.length ? lone : null;
    loneCache.set(ys, idx);
  }
  return idx;
}

/** Log scales take positive values only; the rest become gaps. */
function forLog(d: Aligned): Aligned {
  return { x: d.x, ys: d.ys.map((y) => y.map((v) => (v === undefined ? undefined : v !== null && v > 0 ? v : null))) };
}

export function LineChart(props: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const drawnFor = useRef<unknown>(null);
  const dataRef = useRef(props.model.data);

  const shape = JSON.stringify([props.model.series, props.model.bands, props.xKind, props.logY, props.theme, props.height, props.syncKey]);

  // (Re)build when the set of series or the axes change; data changes only call setData.
  useEffect(() => {
    const el = host.current;
    if (!el || props.width <= 0) return;
    const { model, xKind, logY } = latest.current;
    const muted = cssVar("--muted") || "#666";
    const grid = cssVar("--border") || "#ddd";
    const fmtX = xFormatter(xKind);
    let active = false;
    const opts: uPlot.Options = {
      width: props.width,
      height: props.height,
      legend: { show: false },
      padding: [8, 10, 0, 0],
      cursor: {
        sync: { key: props.syncKey, setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { show: false },
        focus: { prox: -1 },
      },
      scales: {
        x: { time: xKind === "wall" },
        y: logY ? { distr: 3, log: 10 } : {},
      },
      axes: [
        {
          stroke: muted,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: 32,
          font: "11px system-ui, sans-serif",
          values: xKind === "wall" ? undefined : (_u, ticks) => ticks.map(fmtX),
          // steps are whole numbers: no tick at step 0.5
          incrs: xKind === "step" ? STEP_INCRS : undefined,
        },
        {
          stroke: muted,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: 52,
          font: "11px system-ui, sans-serif",
          values: (_u, ticks) => formatTicks(ticks),
        },
      ],
      series: [
        {},
        ...model.series.map((s) => ({
          label: s.label,
          stroke: s.hidden ? "transparent" : s.color,
          width: s.hidden ? 0 : (s.width ?? 1.5),
          dash: s.dash,
          // no dots on lines, except where no segment reaches (a single sample)
          points: s.hidden ? { show: false } : { show: false, filter: lonePointsOf, fill: s.color, size: 6 },
          spanGaps: false,
        })),
      ],
      bands: model.bands?.map((b) => ({ series: [b.upper + 1, b.lower + 1] as [number, number], fill: b.fill })),
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 3) {
              const lo = u.posToVal(u.select.left, "x");
              const hi = u.posToVal(u.select.left + u.select.width, "x");
              latest.current.onZoom([lo, hi]);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [
          (u) => {
            const tip = tooltip();
            const left = u.cursor.left ?? -1;
            if (!active || left < 0) {
              if (active || left < 0) tip.style.display = "none";
              return;
            }
            const x = u.posToVal(left, "x");
            const items: { label: string; color: string; y: number }[] = [];
            for (const l of latest.current.model.tooltip) {
              const v = valueAt(l.points, x);
              if (v && v.y !== null) items.push({ label: l.label, color: l.color, y: v.y });
            }
            if (!items.length) {
              tip.style.display = "none";
              return;
            }
            items.sort((a, b) => b.y - a.y);
            const shown = items.slice(0, MAX_TOOLTIP);
            const xLabel = latest.current.xLabel ?? "step";
            tip.innerHTML =
              `<div class="x">${esc(xLabel)} ${esc(fmtX(x))}</div>` +
              shown
                .map(
                  (it) =>
                    `<div class="it"><span class="swatch" style="background:${it.color}"></span><span class="n">${esc(it.label)}</span><span class="v">${esc(formatNumber(it.y, 5))}</span></div>`,
                )
                .join("") +
              (items.length > shown.length ? `<div class="x">… and ${items.length - shown.length} more</div>` : "");
            const r = u.over.getBoundingClientRect();
            tip.style.display = "block";
            const tw = tip.offsetWidth;
            const px = r.left + left + 16;
            tip.style.left = `${px + tw > window.innerWidth - 8 ? r.left + left - tw - 16 : px}px`;
            tip.style.top = `${Math.max(8, r.top + (u.cursor.top ?? 0) - 20)}px`;
          },
        ],
        draw: [
          (u) => {
            // the y scale as drawn (its kind and range), for the browser tests (tests/web)
            const h = host.current;
            if (h) {
              h.dataset.yScale = u.scales.y.distr === 3 ? "log" : "linear";
              h.dataset.yMin = String(u.scales.y.min);
              h.dataset.yMax = String(u.scales.y.max);
            }
            const m = latest.current.model;
            if (drawnFor.current !== m && u.data[0]?.length) {
              drawnFor.current = m;
              latest.current.onDrawn?.();
            }
          },
        ],
      },
    };
    const d = logY ? forLog(model.data) : model.data;
    dataRef.current = model.data;
    const u = new uPlot(opts, [d.x, ...d.ys] as unknown as uPlot.AlignedData, el);
    // empty-data charts never fire a draw with data: the panel still counts as drawn
    if (!model.data.x.length) latest.current.onDrawn?.();
    const enter = () => {
      active = true;
    };
    const leave = () => {
      active = false;
      tooltip().style.display = "none";
    };
    const dbl = () => latest.current.onZoom(null);
    u.over.addEventListener("mouseenter", enter);
    u.over.addEventListener("mouseleave", leave);
    u.over.addEventListener("dblclick", dbl);
    plot.current = u;
    applyZoom(u, latest.current.zoom);
    return () => {
      u.over.removeEventListener("mouseenter", enter);
      u.over.removeEventListener("mouseleave", leave);
      u.over.removeEventListener("dblclick", dbl);
      u.destroy();
      plot.current = null;
      tooltip().style.display = "none";
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, props.width > 0]);

  // New data for the same series: setData keeps the chart (no flicker, no rebuild).
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    if (dataRef.current !== props.model.data) {
      dataRef.current = props.model.data;
      const d = props.logY ? forLog(props.model.data) : props.model.data;
      u.setData([d.x, ...d.ys] as unknown as uPlot.AlignedData, !props.zoom);
      if (!d.x.length) props.onDrawn?.();
      // setData's own range is still pending (the scale reads as before): set ours regardless
      applyZoom(u, props.zoom, true);
    } else applyZoom(u, props.zoom);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.model.data, props.zoom?.[0], props.zoom?.[1]]);

  useEffect(() => {
    plot.current?.setSize({ width: props.width, height: props.height });
  }, [props.width, props.height]);

  return <div ref={host} style={{ width: "100%", height: props.height }} />;
}

/** The x range shown: the zoom, else the data's (``force``: even if the scale reads as it). */
function applyZoom(u: uPlot, zoom: [number, number] | null, force = false): void {
  const xs = u.data[0];
  let range: [number, number] | null = zoom;
  if (!range && xs && xs.length) {
    const lo = xs[0];
    const hi = xs[xs.length - 1];
    // a single x (one sample) in the middle of the plot, not on its left edge
    range = lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
  }
  if (range && (force || u.scales.x.min !== range[0] || u.scales.x.max !== range[1])) u.setScale("x", { min: range[0], max: range[1] });
}

// What the SDK logs besides numbers (labbook.sdk.media, labbook.plot), read back for the run
// page's panels: pure functions over the stored references and JSON files.

import { formatValue, num } from "./format";
import type { Points } from "./series";

export type MediaKind = "image" | "table" | "histogram" | "plot";

export interface Ref {
  _type: string;
  items_type?: string;
  items?: Ref[];
  path?: string;
  caption?: string | null;
  width?: number;
  height?: number;
  chart?: string;
  title?: string | null;
  bins?: number[];
  values?: number[];
}

/** The media kind of a logged value (a list of images counts as images), or null for plain values. */
export function mediaKind(v: unknown): MediaKind | null {
  const ref = v && typeof v === "object" && !Array.isArray(v) ? (v as Ref) : null;
  const t = Array.isArray(v) ? (v[0] as Ref | undefined)?._type : ref?._type === "list" ? ref.items_type : ref?._type;
  return t === "image" || t === "table" || t === "histogram" || t === "plot" ? t : null;
}

/** The references inside a value: a list's items (as the SDK stores a list of images), or itself. */
export function refsOf(v: unknown): Ref[] {
  if (Array.isArray(v)) return v as Ref[];
  const ref = v as Ref | null;
  if (ref && ref._type === "list") return ref.items ?? [];
  return ref ? [ref] : [];
}

/** Counts of `values` in `bins` equal-width bins over their finite range (plot.histogram). */
export function binValues(values: readonly unknown[], bins: number): { edges: number[]; counts: number[] } {
  const xs = values.map((v) => (typeof v === "number" ? v : num(v))).filter((v): v is number => v !== null && Number.isFinite(v));
  if (!xs.length) return { edges: [], counts: [] };
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const n = Math.max(1, Math.floor(bins));
  if (hi === lo) hi = lo + 1;
  const w = (hi - lo) / n;
  const counts = new Array(n).fill(0);
  for (const x of xs) counts[Math.min(n - 1, Math.floor((x - lo) / w))]++;
  return { edges: Array.from({ length: n + 1 }, (_, i) => lo + i * w), counts };
}

export interface TableJson {
  columns: string[];
  data: unknown[][];
  str_cells?: [number, number][];
  chart?: string;
  fields?: Record<string, string>;
  title?: string | null;
  meta?: Record<string, unknown>;
}

/** A cell's value with the table's non-finite spellings read back (unless a string cell). */
export function cell(t: TableJson, r: number, c: number, strCells: Set<string>): unknown {
  const v = t.data[r]?.[c];
  if (typeof v === "string" && !strCells.has(`${r},${c}`)) {
    const n = num(v);
    if (n !== null) return n;
  }
  return v;
}

export function col(t: TableJson, name: string | undefined): number {
  return name ? t.columns.indexOf(name) : -1;
}

export function confusionCells(t: TableJson): { classes: string[]; counts: number[][] } {
  const a = col(t, t.fields?.actual ?? "Actual");
  const p = col(t, t.fields?.predicted ?? "Predicted");
  const v = col(t, t.fields?.value ?? "nPredictions");
  const named = (t.meta?.class_names as string[] | undefined) ?? [];
  const classes = [...named];
  for (const row of t.data) {
    for (const k of [String(row[a]), String(row[p])]) if (!classes.includes(k)) classes.push(k);
  }
  const counts = classes.map(() => classes.map(() => 0));
  for (const row of t.data) {
    const i = classes.indexOf(String(row[a]));
    const j = classes.indexOf(String(row[p]));
    counts[i][j] += Number(row[v]) || 0;
  }
  return { classes, counts };
}

/** Lines of an x/y plot (ROC, PR, line, scatter, line_series), one per `stroke` value. */
export function plotLines(t: TableJson, strCells: Set<string> = new Set()): { name: string; pts: Points }[] {
  const x = col(t, t.fields?.x);
  const y = col(t, t.fields?.y);
  const s = col(t, t.fields?.stroke);
  const groups = new Map<string, { xs: number[]; ys: (number | null)[] }>();
  t.data.forEach((_, r) => {
    const name = s >= 0 ? formatValue(t.data[r][s]) : "";
    const xv = cell(t, r, x, strCells);
    const yv = cell(t, r, y, strCells);
    if (typeof xv !== "number" || !Number.isFinite(xv)) return;
    if (!groups.has(name)) groups.set(name, { xs: [], ys: [] });
    const g = groups.get(name)!;
    g.xs.push(xv);
    g.ys.push(typeof yv === "number" && Number.isFinite(yv) ? yv : null);
  });
  return [...groups].map(([name, g]) => {
    // uPlot draws in x order. A curve already monotone in x keeps its point order (a PR curve
    // runs from recall 1 down to 0: reversed; ties keep their vertical segments), else sort.
    const n = g.xs.length;
    let up = true;
    let down = true;
    for (let i = 1; i < n; i++) {
      if (g.xs[i] < g.xs[i - 1]) up = false;
      if (g.xs[i] > g.xs[i - 1]) down = false;
    }
    const idx = up ? g.xs.map((_, i) => i) : down ? g.xs.map((_, i) => n - 1 - i) : g.xs.map((_, i) => i).sort((a, b) => g.xs[a] - g.xs[b] || a - b);
    const xs = idx.map((i) => g.xs[i]);
    return { name, pts: { xs, ys: idx.map((i) => g.ys[i]), steps: xs } };
  });
}


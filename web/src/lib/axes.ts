// Axes of the parallel-coordinates plot: numeric, log or categorical, from the values seen.

import { formatValue, num } from "./format";

export interface Axis {
  field: string;
  label: string;
  kind: "number" | "log" | "category";
  min: number;
  max: number;
  categories: string[];
}

/** An axis for the values of one column: categorical for text, log when positive and spanning 20× or more. */
export function makeAxis(field: string, label: string, values: readonly unknown[]): Axis {
  const nums: number[] = [];
  const cats = new Set<string>();
  for (const v of values) {
    const n = typeof v === "number" ? v : num(v);
    if (n !== null && Number.isFinite(n)) nums.push(n);
    else if (v !== null && v !== undefined) cats.add(formatValue(v));
  }
  if (cats.size > 0 && cats.size >= nums.length) {
    for (const n of nums) cats.add(formatValue(n));
    return { field, label, kind: "category", min: 0, max: Math.max(1, cats.size - 1), categories: [...cats].sort(naturalCompare) };
  }
  let min = Infinity;
  let max = -Infinity;
  for (const n of nums) {
    if (n < min) min = n;
    if (n > max) max = n;
  }
  if (!nums.length) return { field, label, kind: "number", min: 0, max: 1, categories: [] };
  const log = min > 0 && max / min >= 20;
  return { field, label, kind: log ? "log" : "number", min, max: max === min ? min + 1 : max, categories: [] };
}

function naturalCompare(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a.localeCompare(b);
}

/** Position 0..1 (bottom to top) of a value on an axis; null when it has none. */
export function axisPos(a: Axis, v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (a.kind === "category") {
    const i = a.categories.indexOf(formatValue(v));
    return i < 0 ? null : a.categories.length === 1 ? 0.5 : i / (a.categories.length - 1);
  }
  const n = typeof v === "number" ? v : num(v);
  if (n === null || !Number.isFinite(n)) return null;
  if (a.kind === "log") return n > 0 ? (Math.log(n) - Math.log(a.min)) / (Math.log(a.max) - Math.log(a.min)) : null;
  return (n - a.min) / (a.max - a.min);
}


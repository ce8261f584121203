// From the server's envelopes (per bucket: first/last/min/max and where they were) to what uPlot
// draws: one x array shared by every line and one y array per line.
//
// A bucket of c points becomes at most four points: its first, its min and max (in between, so
// the line reaches both extremes: a spike is never sampled away) and its last. Non-finite values
// are gaps (null); x positions missing for a line are `undefined`, which uPlot steps over.

import type { EnvelopeSeries } from "../api/dashboard";
import { num } from "./format";

/** The x-axis: the step, the run's relative time (s), wall time (unix s), or another metric. */
export type XAxis = "step" | "rt" | "wall" | { metric: string };

export function parseXAxis(s: string | null | undefined): XAxis {
  if (s === "rt" || s === "wall" || s === "step") return s;
  if (s && s.startsWith("metric:") && s.length > 7) return { metric: s.slice(7) };
  return "step";
}

export function xAxisParam(x: XAxis): string {
  return typeof x === "string" ? x : `metric:${x.metric}`;
}

export interface Points {
  xs: number[];
  ys: (number | null)[];
  /** the step of each point (fractional for the interior min/max of a bucket) */
  steps: number[];
}

function finite(v: unknown): number | null {
  const n = typeof v === "number" ? v : num(v);
  return n !== null && Number.isFinite(n) ? n : null;
}

/** The points to draw for one envelope, in x order, on a step, relative-time or wall-time axis. */
export function envelopePoints(s: EnvelopeSeries, axis: "step" | "rt" | "wall" = "step"): Points {
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  const steps: number[] = [];
  const n = s.count.length;
  for (let b = 0; b < n; b++) {
    const c = s.count[b];
    if (!c) continue;
    const s0 = s.first_step[b];
    const s1 = s.last_step[b];
    let x0: number | null;
    let x1: number | null;
    if (axis === "step") {
      x0 = s0;
      x1 = s1;
    } else if (axis === "rt") {
      x0 = finite(s.rt_first?.[b]);
      x1 = finite(s.rt_last?.[b]);
    } else {
      x0 = finite(s.first_time?.[b]);
      x1 = finite(s.last_time?.[b]);
    }
    if (x0 === null || x1 === null) continue; // no time for these points: not placeable
    const first = finite(s.first[b]);
    const last = finite(s.last[b]);
    xs.push(x0);
    ys.push(first);
    steps.push(s0);
    if (c >= 3) {
      const lo = finite(s.min[b]);
      const hi = finite(s.max[b]);
      // falling lines meet their max first, rising ones their min: the drawn line stays monotone
      const pair = first !== null && last !== null && first > last ? [hi, lo] : [lo, hi];
      const dx = (x1 - x0) / 3;
      const ds = (s1 - s0) / 3;
      xs.push(x0 + dx, x0 + 2 * dx);
      ys.push(pair[0], pair[1]);
      steps.push(s0 + ds, s0 + 2 * ds);
    }
    if (c >= 2) {
      xs.push(x1);
      ys.push(last);
      steps.push(s1);
    }
  }
  return { xs, ys, steps };
}

/**
 * x of each point from another metric logged at the same steps (define_metric's step_metric):
 * interpolated linearly between the steps where the x metric was logged; points outside its
 * range are dropped.
 */
export function remapX(p: Points, xMetric: Points): Points {
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  const steps: number[] = [];
  // the x metric's (step → value) pairs, finite only, in step order
  const ks: number[] = [];
  const kv: number[] = [];
  for (let i = 0; i < xMetric.steps.length; i++) {
    const v = xMetric.ys[i];
    if (v === null) continue;
    if (ks.length && xMetric.steps[i] <= ks[ks.length - 1]) continue;
    ks.push(xMetric.steps[i]);
    kv.push(v);
  }
  if (!ks.length) return { xs, ys, steps };
  for (let i = 0; i < p.steps.length; i++) {
    const st = p.steps[i];
    if (st < ks[0] || st > ks[ks.length - 1]) continue;
    const j = upperBound(ks, st); // first index with ks[j] > st
    let x: number;
    if (j === 0) x = kv[0];
    else if (ks[j - 1] === st || j === ks.length) x = kv[j - 1];
    else {
      const t = (st - ks[j - 1]) / (ks[j] - ks[j - 1]);
      x = kv[j - 1] + t * (kv[j] - kv[j - 1]);
    }
    xs.push(x);
    ys.push(p.ys[i]);
    steps.push(st);
  }
  // an x metric need not grow with the step; uPlot needs x in order
  if (!isSorted(xs)) {
    const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
    return { xs: idx.map((i) => xs[i]), ys: idx.map((i) => ys[i]), steps: idx.map((i) => steps[i]) };
  }
  return { xs, ys, steps };
}

function isSorted(a: number[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] < a[i - 1]) return false;
  return true;
}

/** First index i with a[i] > v (a sorted ascending). */
export function upperBound(a: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Appends the buckets of `more` (steps after the last one seen, from a live poll) to `old`. */
export function appendEnvelope(old: EnvelopeSeries, more: EnvelopeSeries): EnvelopeSeries {
  const lastOld = old.count.length ? Math.max(...old.last_step.filter((_, i) => old.count[i] > 0), -Infinity) : -Infinity;
  const keep = more.count.map((c, i) => c > 0 && more.first_step[i] > lastOld);
  const cat = <T,>(a: T[] | undefined, b: T[] | undefined): T[] => [...(a ?? []), ...(b ?? []).filter((_, i) => keep[i])];
  return {
    ...old,
    step_max: Math.max(old.step_max, more.step_max),
    bucket_lo: cat(old.bucket_lo, more.bucket_lo),
    first_step: cat(old.first_step, more.first_step),
    last_step: cat(old.last_step, more.last_step),
    first: cat(old.first, more.first),
    last: cat(old.last, more.last),
    min: cat(old.min, more.min),
    max: cat(old.max, more.max),
    count: cat(old.count, more.count),
    first_time: cat(old.first_time, more.first_time),
    last_time: cat(old.last_time, more.last_time),
    rt_first: cat(old.rt_first, more.rt_first),
    rt_last: cat(old.rt_last, more.rt_last),
  };
}

export interface Aligned {
  x: number[];
  /** per line: a value, null (a gap: NaN or no data there) or undefined (no point at this x) */
  ys: (number | null | undefined)[][];
}

/**
 * One x array for all lines. When the union of their x values is at most `maxX`, it is exact;
 * beyond that (many runs logged at different steps or times) x is cut into maxX/2 slots and each
 * line keeps its min and max per slot, in the order they came, so no extreme is lost.
 */
export function align(lines: readonly Points[], maxX = 8000): Aligned {
  let total = 0;
  for (const l of lines) total += l.xs.length;
  const all = new Float64Array(total);
  let k = 0;
  for (const l of lines) for (const x of l.xs) all[k++] = x;
  all.sort();
  const uniq: number[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) uniq.push(all[i]);
  if (uniq.length <= maxX) {
    const ys = lines.map((l) => {
      const out: (number | null | undefined)[] = new Array(uniq.length);
      let j = 0;
      for (let i = 0; i < l.xs.length; i++) {
        const x = l.xs[i];
        if (uniq[j] !== x) j = lowerBound(uniq, x);
        // several points at one x (points logged at the same second): the last one, unless a gap
        const prev = out[j];
        const y = l.ys[i];
        out[j] = y === null && prev !== undefined ? prev : y;
      }
      return out;
    });
    return { x: uniq, ys };
  }
  return regrid(lines, uniq[0], uniq[uniq.length - 1], Math.max(2, Math.floor(maxX / 2)));
}

function regrid(lines: readonly Points[], lo: number, hi: number, slots: number): Aligned {
  const w = (hi - lo) / slots || 1;
  const x: number[] = new Array(slots * 2);
  for (let s = 0; s < slots; s++) {
    x[2 * s] = lo + w * (s + 0.25);
    x[2 * s + 1] = lo + w * (s + 0.75);
  }
  const ys = lines.map((l) => {
    const out: (number | null | undefined)[] = new Array(slots * 2);
    const mins = new Float64Array(slots).fill(Infinity);
    const maxs = new Float64Array(slots).fill(-Infinity);
    const minAt = new Int32Array(slots).fill(-1);
    const maxAt = new Int32Array(slots).fill(-1);
    const seen = new Uint8Array(slots);
    for (let i = 0; i < l.xs.length; i++) {
      const s = Math.min(slots - 1, Math.max(0, Math.floor((l.xs[i] - lo) / w)));
      seen[s] = 1;
      const y = l.ys[i];
      if (y === null) continue;
      if (y < mins[s]) {
        mins[s] = y;
        minAt[s] = i;
      }
      if (y > maxs[s]) {
        maxs[s] = y;
        maxAt[s] = i;
      }
    }
    for (let s = 0; s < slots; s++) {
      if (!seen[s]) continue;
      if (minAt[s] < 0) {
        out[2 * s] = null;
        continue;
      }
      const minFirst = minAt[s] <= maxAt[s];
      out[2 * s] = minFirst ? mins[s] : maxs[s];
      out[2 * s + 1] = minFirst ? maxs[s] : mins[s];
    }
    return out;
  });
  return { x, ys };
}

/**
 * Indices of the values no line segment reaches: a line's only value, or one with a gap (null)
 * or the line's end on both sides. `undefined` (no point at that x) is passed over, as uPlot joins
 * across it. A chart draws these as dots: a run with one system sample, or a metric logged once,
 * would otherwise show an empty panel.
 */
export function lonePoints(ys: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = [];
  let leftIsValue = false; // the last entry that is not undefined was a value (not a gap)
  let candidate = -1; // a value with nothing on its left, waiting to see its right
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === undefined) continue;
    if (y === null) {
      if (candidate >= 0) out.push(candidate);
      candidate = -1;
      leftIsValue = false;
      continue;
    }
    if (leftIsValue) candidate = -1;
    else candidate = i;
    leftIsValue = true;
  }
  if (candidate >= 0) out.push(candidate);
  return out;
}

/** First index i with a[i] >= v. */
export function lowerBound(a: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The value a line has at x: its last point at or before x, within its own x range. */
export function valueAt(p: Points, x: number): { x: number; y: number | null } | null {
  if (!p.xs.length || x < p.xs[0]) return null;
  if (x > p.xs[p.xs.length - 1]) return null; // past its end: a run does not extend
  const i = upperBound(p.xs, x) - 1;
  return { x: p.xs[i], y: p.ys[i] };
}

export interface Band {
  mean: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

/**
 * A group of runs as one line and a band: at each x, the mean, min and max of the runs that have
 * a value there (each run's last point at or before x, within its own range).
 */
export function groupBand(x: readonly number[], lines: readonly Points[]): Band {
  const mean: (number | null)[] = new Array(x.length).fill(null);
  const min: (number | null)[] = new Array(x.length).fill(null);
  const max: (number | null)[] = new Array(x.length).fill(null);
  const pos = lines.map(() => -1);
  for (let i = 0; i < x.length; i++) {
    let sum = 0;
    let n = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let l = 0; l < lines.length; l++) {
      const p = lines[l];
      if (!p.xs.length || x[i] < p.xs[0] || x[i] > p.xs[p.xs.length - 1]) continue;
      let j = pos[l];
      while (j + 1 < p.xs.length && p.xs[j + 1] <= x[i]) j++;
      pos[l] = j;
      const y = j >= 0 ? p.ys[j] : null;
      if (y === null) continue;
      sum += y;
      n++;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
    if (n) {
      mean[i] = sum / n;
      min[i] = lo;
      max[i] = hi;
    }
  }
  return { mean, min, max };
}

/** How many buckets to ask per series, so that all lines together stay a few hundred thousand points. */
export function bucketsFor(runs: number, width = 1000): number {
  const perRun = Math.floor(400_000 / Math.max(1, runs) / 4);
  return Math.max(50, Math.min(Math.round(width), perRun, 2000));
}

/** The metric's section: the prefix before the first "/" (train/, val/, system/), else "". */
export function sectionOf(key: string): string {
  const i = key.indexOf("/");
  return i > 0 ? key.slice(0, i) : "";
}

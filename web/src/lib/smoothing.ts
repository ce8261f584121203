// Exponential moving average, as W&B draws it: debiased (the first points are not pulled toward
// zero), NaN, ±Inf and missing values are gaps that keep the average (the line resumes where it
// was), and a weight of 0 is the raw series.

export type Value = number | null | undefined;

/**
 * The EMA of `ys` with smoothing `weight` in [0, 1): each output is the weighted mean of the
 * finite points so far, point i weighing (1 - weight) * weight^(n - i). Non-finite and missing
 * inputs give `null` at their position (a gap in the chart) and do not move the average.
 */
export function ema(ys: ArrayLike<Value>, weight: number): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  const out: (number | null)[] = new Array(ys.length);
  let acc = 0;
  let debias = 1; // weight^n for the n finite points seen
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    if (w === 0) {
      out[i] = y;
      continue;
    }
    acc = acc * w + (1 - w) * y;
    debias *= w;
    out[i] = acc / (1 - debias);
  }
  return out;
}

/**
 * The same for unevenly spaced points: the weight decays with the distance in x, so a run that
 * logged every step and one that logged every tenth step smooth alike. `weight` is the decay per
 * `span` units of x (the median spacing by default).
 */
export function emaByX(xs: ArrayLike<number>, ys: ArrayLike<Value>, weight: number, span?: number): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  if (w === 0 || xs.length < 2) return ema(ys, w);
  const unit = span ?? medianSpacing(xs);
  const out: (number | null)[] = new Array(ys.length);
  let acc = 0;
  let norm = 0;
  let lastX: number | null = null;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    const decay = lastX === null || unit <= 0 ? w : Math.pow(w, Math.max(xs[i] - lastX, 0) / unit);
    acc = acc * decay + (1 - w) * y;
    norm = norm * decay + (1 - w);
    out[i] = acc / norm;
    lastX = xs[i];
  }
  return out;
}

function medianSpacing(xs: ArrayLike<number>): number {
  const d: number[] = [];
  for (let i = 1; i < xs.length; i++) {
    const g = xs[i] - xs[i - 1];
    if (g > 0 && Number.isFinite(g)) d.push(g);
  }
  if (!d.length) return 1;
  d.sort((a, b) => a - b);
  return d[d.length >> 1];
}

import { describe, expect, it } from "vitest";
import type { EnvelopeSeries } from "../api/dashboard";
import {
  align,
  appendEnvelope,
  bucketsFor,
  envelopePoints,
  groupBand,
  lonePoints,
  parseXAxis,
  remapX,
  sectionOf,
  valueAt,
  xAxisParam,
  type Points,
} from "./series";

function env(buckets: { lo: number; fs: number; ls: number; f: unknown; l: unknown; mn: unknown; mx: unknown; c: number; t0?: number; t1?: number }[]): EnvelopeSeries {
  return {
    run: "r1",
    key: "loss",
    step_min: buckets[0]?.lo ?? 0,
    step_max: buckets.length ? buckets[buckets.length - 1].ls : 0,
    buckets: buckets.length,
    bucket_lo: buckets.map((b) => b.lo),
    first_step: buckets.map((b) => b.fs),
    last_step: buckets.map((b) => b.ls),
    first: buckets.map((b) => b.f as number),
    last: buckets.map((b) => b.l as number),
    min: buckets.map((b) => b.mn as number),
    max: buckets.map((b) => b.mx as number),
    count: buckets.map((b) => b.c),
    first_time: buckets.map((b) => 1000 + (b.t0 ?? b.fs)),
    last_time: buckets.map((b) => 1000 + (b.t1 ?? b.ls)),
    rt_first: buckets.map((b) => b.t0 ?? b.fs),
    rt_last: buckets.map((b) => b.t1 ?? b.ls),
  };
}

describe("envelope → points", () => {
  it("keeps single points and pairs exact", () => {
    const p = envelopePoints(
      env([
        { lo: 0, fs: 0, ls: 0, f: 1, l: 1, mn: 1, mx: 1, c: 1 },
        { lo: 10, fs: 10, ls: 12, f: 2, l: 3, mn: 2, mx: 3, c: 2 },
        { lo: 20, fs: 0, ls: 0, f: null, l: null, mn: null, mx: null, c: 0 },
      ]),
    );
    expect(p.xs).toEqual([0, 10, 12]);
    expect(p.ys).toEqual([1, 2, 3]);
    expect(p.steps).toEqual([0, 10, 12]);
  });
  it("draws a bucket's min and max between its first and last point, so spikes stay", () => {
    const rising = envelopePoints(env([{ lo: 0, fs: 0, ls: 9, f: 1, l: 5, mn: 0, mx: 100, c: 10 }]));
    expect(rising.xs).toEqual([0, 3, 6, 9]);
    expect(rising.ys).toEqual([1, 0, 100, 5]);
    const falling = envelopePoints(env([{ lo: 0, fs: 0, ls: 9, f: 5, l: 1, mn: 0, mx: 100, c: 10 }]));
    expect(falling.ys).toEqual([5, 100, 0, 1]);
    expect(Math.max(...(falling.ys as number[]))).toBe(100);
  });
  it("turns non-finite values into gaps", () => {
    const p = envelopePoints(env([{ lo: 0, fs: 0, ls: 3, f: "NaN", l: "Infinity", mn: "-Infinity", mx: 2, c: 4 }]));
    expect(p.ys).toEqual([null, null, 2, null]);
  });
  it("places points by relative or wall time", () => {
    const e = env([{ lo: 0, fs: 0, ls: 1, f: 1, l: 2, mn: 1, mx: 2, c: 2, t0: 5, t1: 7 }]);
    expect(envelopePoints(e, "rt").xs).toEqual([5, 7]);
    expect(envelopePoints(e, "wall").xs).toEqual([1005, 1007]);
  });
  it("appends only new buckets of a live run", () => {
    const old = env([{ lo: 0, fs: 0, ls: 4, f: 1, l: 2, mn: 1, mx: 2, c: 5 }]);
    const more = env([
      { lo: 3, fs: 3, ls: 4, f: 9, l: 9, mn: 9, mx: 9, c: 2 },
      { lo: 5, fs: 5, ls: 6, f: 3, l: 4, mn: 3, mx: 4, c: 2 },
    ]);
    const both = appendEnvelope(old, more);
    expect(both.first_step).toEqual([0, 5]);
    expect(both.count).toEqual([5, 2]);
    expect(both.rt_last).toEqual([4, 6]);
    expect(both.step_max).toBe(6);
  });
});

describe("x from another metric (step_metric)", () => {
  it("maps steps to the x metric, interpolating between its points", () => {
    const loss: Points = { xs: [0, 5, 10, 20], ys: [4, 3, 2, 1], steps: [0, 5, 10, 20] };
    const epoch: Points = { xs: [0, 10], ys: [0, 1], steps: [0, 10] };
    const p = remapX(loss, epoch);
    expect(p.xs).toEqual([0, 0.5, 1]);
    expect(p.ys).toEqual([4, 3, 2]); // step 20 is past the last epoch point: dropped
  });
  it("sorts by x when the x metric does not grow with the step", () => {
    const y: Points = { xs: [0, 1, 2], ys: [1, 2, 3], steps: [0, 1, 2] };
    const x: Points = { xs: [0, 1, 2], ys: [3, 1, 2], steps: [0, 1, 2] };
    const p = remapX(y, x);
    expect(p.xs).toEqual([1, 2, 3]);
    expect(p.ys).toEqual([2, 3, 1]);
  });
  it("parses the axis parameter", () => {
    expect(parseXAxis("rt")).toBe("rt");
    expect(parseXAxis("metric:epoch")).toEqual({ metric: "epoch" });
    expect(parseXAxis("bogus")).toBe("step");
    expect(parseXAxis(null)).toBe("step");
    expect(xAxisParam({ metric: "epoch" })).toBe("metric:epoch");
  });
});

describe("aligning lines for uPlot", () => {
  const a: Points = { xs: [0, 1, 2], ys: [1, 2, 3], steps: [0, 1, 2] };
  const b: Points = { xs: [1, 3], ys: [5, null], steps: [1, 3] };
  it("unions the x values; missing points are undefined, gaps null", () => {
    const al = align([a, b]);
    expect(al.x).toEqual([0, 1, 2, 3]);
    expect(al.ys[0]).toEqual([1, 2, 3, undefined]);
    expect(al.ys[1]).toEqual([undefined, 5, undefined, null]);
  });
  it("regrids many distinct x values without losing the extremes", () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const ys = xs.map((x) => (x === 501 ? 1000 : x === 502 ? -1000 : 0));
    const al = align([{ xs, ys, steps: xs }], 100);
    expect(al.x.length).toBe(100);
    const vals = al.ys[0].filter((v): v is number => typeof v === "number");
    expect(Math.max(...vals)).toBe(1000);
    expect(Math.min(...vals)).toBe(-1000);
  });
  it("finds a line's value at x", () => {
    expect(valueAt(a, 1.5)).toEqual({ x: 1, y: 2 });
    expect(valueAt(a, -1)).toBeNull();
    expect(valueAt(a, 2)).toEqual({ x: 2, y: 3 });
    expect(valueAt(a, 2.5)).toBeNull();
  });
});

describe("groups", () => {
  it("mean, min and max of the runs present at each x", () => {
    const r1: Points = { xs: [0, 1, 2], ys: [1, 2, 3], steps: [0, 1, 2] };
    const r2: Points = { xs: [0, 2], ys: [3, 5], steps: [0, 2] };
    const r3: Points = { xs: [1], ys: [null], steps: [1] };
    const band = groupBand([0, 1, 2, 3], [r1, r2, r3]);
    expect(band.mean).toEqual([2, 2.5, 4, null]);
    expect(band.min).toEqual([1, 2, 3, null]);
    expect(band.max).toEqual([3, 3, 5, null]);
  });
});

describe("helpers", () => {
  it("sizes the bucket count by the number of runs", () => {
    expect(bucketsFor(20, 1000)).toBe(1000);
    expect(bucketsFor(1000, 1000)).toBe(100);
    expect(bucketsFor(100000)).toBe(50);
  });
  it("sections metrics by prefix", () => {
    expect(sectionOf("train/loss")).toBe("train");
    expect(sectionOf("system/cpu")).toBe("system");
    expect(sectionOf("loss")).toBe("");
  });
});

describe("lone points (drawn as dots)", () => {
  it("finds a line's only value", () => {
    expect(lonePoints([4.2])).toEqual([0]);
    expect(lonePoints([undefined, 4.2, undefined])).toEqual([1]);
  });
  it("finds values between gaps, passing over missing x", () => {
    expect(lonePoints([1, null, 2, null, 3, 4])).toEqual([0, 2]);
    expect(lonePoints([null, 1, undefined, null, 2])).toEqual([1, 4]);
  });
  it("leaves values a segment reaches", () => {
    expect(lonePoints([1, 2, 3])).toEqual([]);
    expect(lonePoints([1, undefined, undefined, 2])).toEqual([]);
    expect(lonePoints([null, 1, undefined, 2, null])).toEqual([]);
    expect(lonePoints([])).toEqual([]);
    expect(lonePoints([null, undefined, null])).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { ema, emaByX } from "./smoothing";

describe("ema", () => {
  it("is the raw series at weight 0", () => {
    expect(ema([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });
  it("is debiased: a constant series stays constant from the first point", () => {
    for (const v of ema([5, 5, 5, 5], 0.9)) expect(v).toBeCloseTo(5, 12);
  });
  it("weighs recent points more", () => {
    const out = ema([0, 10], 0.5);
    // acc1 = 0.5*0 = 0 → 0/(1-0.5) = 0; acc2 = 0*0.5 + 0.5*10 = 5 → 5/(1-0.25) = 6.667
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(20 / 3, 12);
  });
  it("leaves gaps at NaN, infinities and missing values without moving the average", () => {
    const out = ema([1, NaN, null, Infinity, undefined, 1], 0.8);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeNull();
    expect(out[3]).toBeNull();
    expect(out[4]).toBeNull();
    expect(out[0]).toBeCloseTo(1, 12);
    expect(out[5]).toBeCloseTo(1, 12);
    // the same as the series without the gaps
    const plain = ema([2, 4], 0.8);
    const gappy = ema([2, NaN, 4], 0.8);
    expect(gappy[2]).toBeCloseTo(plain[1] as number, 12);
  });
  it("handles an all-gap series and an empty one", () => {
    expect(ema([NaN, NaN], 0.5)).toEqual([null, null]);
    expect(ema([], 0.5)).toEqual([]);
  });
  it("clamps the weight", () => {
    const out = ema([1, 2], 1);
    expect(out[1]).not.toBeNull();
    expect(Number.isFinite(out[1] as number)).toBe(true);
    expect(ema([1, 2], -1)).toEqual([1, 2]);
  });
});

describe("emaByX", () => {
  it("equals ema on evenly spaced points", () => {
    const xs = [0, 1, 2, 3, 4];
    const ys = [3, 1, 4, 1, 5];
    const a = ema(ys, 0.6);
    const b = emaByX(xs, ys, 0.6);
    for (let i = 0; i < xs.length; i++) expect(b[i]).toBeCloseTo(a[i] as number, 12);
  });
  it("forgets more across a wide gap in x", () => {
    const near = emaByX([0, 1, 2], [0, 0, 10], 0.9)[2] as number;
    const far = emaByX([0, 1, 50], [0, 0, 10], 0.9, 1)[2] as number;
    expect(far).toBeGreaterThan(near);
    expect(far).toBeLessThanOrEqual(10);
  });
  it("keeps NaN gaps", () => {
    const out = emaByX([0, 1, 2], [1, NaN, 1], 0.5);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeCloseTo(1, 12);
  });
});

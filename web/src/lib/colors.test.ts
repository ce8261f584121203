import { describe, expect, it } from "vitest";
import { PALETTE, hash, runColor, runColors, withAlpha } from "./colors";

describe("run colours", () => {
  it("are stable per run id", () => {
    expect(runColor("abc123")).toBe(runColor("abc123"));
    expect(hash("abc123")).toBe(hash("abc123"));
    expect(PALETTE).toContain(runColor("x"));
  });
  it("differ between runs in practice", () => {
    const seen = new Set(["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"].map(runColor));
    expect(seen.size).toBeGreaterThan(4);
  });
  it("are distinct within a set and do not change when runs are added", () => {
    const ids = Array.from({ length: 15 }, (_, i) => `run-${i}`);
    const a = runColors(ids.slice(0, 5));
    const b = runColors(ids);
    expect(new Set(b.values()).size).toBe(15);
    for (const id of ids.slice(0, 5)) expect(b.get(id)).toBe(a.get(id));
    expect(runColors([ids[0]]).get(ids[0])).toBe(runColor(ids[0]));
  });
  it("reuse colours past the palette", () => {
    const ids = Array.from({ length: 30 }, (_, i) => `r${i}`);
    expect(runColors(ids).size).toBe(30);
  });
  it("add alpha", () => {
    expect(withAlpha("#112233", 0.5)).toBe("#11223380");
    expect(withAlpha("#112233", 0)).toBe("#11223300");
  });
});

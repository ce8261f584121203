import { describe, expect, it } from "vitest";
import { axisPos, makeAxis } from "./axes";
import { logLines } from "./logs";
import { diffRows, flatten, runtimeOf } from "./runs";

describe("parallel-coordinate axes", () => {
  it("are categorical for text, with numbers among the categories", () => {
    const a = makeAxis("config.opt", "opt", ["sgd", "adam", "sgd", null]);
    expect(a.kind).toBe("category");
    expect(a.categories).toEqual(["adam", "sgd"]);
    expect(axisPos(a, "adam")).toBe(0);
    expect(axisPos(a, "sgd")).toBe(1);
    expect(axisPos(a, null)).toBeNull();
  });
  it("are log for positive values over a wide range", () => {
    const a = makeAxis("config.lr", "lr", [1e-4, 1e-3, 1e-2]);
    expect(a.kind).toBe("log");
    expect(axisPos(a, 1e-3)).toBeCloseTo(0.5, 12);
  });
  it("are linear otherwise, and handle a single value", () => {
    const a = makeAxis("x", "x", [0, 5, 10, "NaN"]);
    expect(a.kind).toBe("number");
    expect(axisPos(a, 5)).toBe(0.5);
    expect(axisPos(a, "NaN")).toBeNull();
    const one = makeAxis("y", "y", [3, 3]);
    expect(axisPos(one, 3)).toBe(0);
  });
});

describe("console logs", () => {
  it("drop ANSI codes and keep what a carriage return redrew", () => {
    expect(logLines("a\n\x1b[32mgreen\x1b[0m\nstep 1\rstep 2\r\nend")).toEqual(["a", "green", "step 2", "end"]);
    expect(logLines("one\ntwo\n")).toEqual(["one", "two"]);
    expect(logLines("")).toEqual([""]);
  });
});

describe("run values", () => {
  it("flatten nested dicts, keeping media and tagged floats whole", () => {
    expect(flatten({ a: { b: 1, c: { d: 2 } }, img: { _type: "image", path: "x" }, f: { $float: "nan" }, e: {} })).toEqual([
      ["a.b", 1],
      ["a.c.d", 2],
      ["img", { _type: "image", path: "x" }],
      ["f", { $float: "nan" }],
      ["e", {}],
    ]);
  });
  it("diff configs", () => {
    const rows = diffRows([
      { lr: 0.1, opt: "adam", nested: { a: 1 } },
      { lr: 0.2, opt: "adam", nested: { a: 1 }, extra: true },
    ]);
    expect(rows).toEqual([
      { key: "extra", values: [undefined, true], differs: true },
      { key: "lr", values: [0.1, 0.2], differs: true },
      { key: "nested.a", values: [1, 1], differs: false },
      { key: "opt", values: ["adam", "adam"], differs: false },
    ]);
  });
  it("measure runtime", () => {
    expect(runtimeOf({ created_at: "2025-01-01T00:00:00Z", started_at: "2025-01-01T00:00:10Z", finished_at: "2025-01-01T00:01:10Z", heartbeat_at: null, state: "finished" })).toBe(60);
    expect(runtimeOf({ created_at: "2025-01-01T00:00:00Z", started_at: null, finished_at: null, heartbeat_at: "2025-01-01T00:00:30Z", state: "crashed" })).toBe(30);
  });
});

import { describe, expect, it } from "vitest";
import type { ProjectKeys } from "../api/dashboard";
import { colsParam, columnLabel, defaultColumns, groupRows, groupStats, mainMetrics, parseCols, variedConfig } from "./columns";

const keys: ProjectKeys = {
  config: [
    { key: "lr", types: ["number"], distinct: 3, runs: 5 },
    { key: "epochs", types: ["number"], distinct: 1, runs: 5 },
    { key: "optimizer", types: ["string"], distinct: 2, runs: 5 },
    { key: "_wandb", types: ["object"], distinct: 5, runs: 5 },
  ],
  summary: [
    { key: "epoch", types: ["number"], runs: 5 },
    { key: "train/loss", types: ["number"], runs: 5 },
    { key: "val/loss", types: ["number"], runs: 5 },
    { key: "val/f1", types: ["number"], runs: 5 },
    { key: "system/cpu", types: ["number"], runs: 5 },
    { key: "samples", types: ["object"], runs: 5 },
    { key: "lr_final", types: ["number"], runs: 5 },
  ],
  metrics: [],
};

describe("default columns", () => {
  it("are the varied config keys and the main metrics", () => {
    expect(variedConfig(keys)).toEqual(["lr", "optimizer"]);
    expect(mainMetrics(keys)).toEqual(["val/loss", "train/loss", "val/f1", "lr_final"]);
    expect(defaultColumns(keys)).toEqual(["config.lr", "config.optimizer", "summary.val/loss", "summary.train/loss", "summary.val/f1", "summary.lr_final"]);
    expect(defaultColumns(undefined)).toEqual([]);
  });
});

describe("labels and the cols parameter", () => {
  it("labels fields", () => {
    expect(columnLabel("config.lr")).toBe("lr");
    expect(columnLabel("summary.val/loss")).toBe("val/loss");
    expect(columnLabel("metrics.val/loss.last_step")).toBe("val/loss (last step)");
    expect(columnLabel("created_at")).toBe("Created");
  });
  it("round-trips fields with commas", () => {
    const cols = ["config.a,b", "summary.x%y", "name"];
    expect(parseCols(colsParam(cols))).toEqual(cols);
    expect(parseCols(null)).toBeNull();
    expect(parseCols("")).toEqual([]);
  });
});

describe("groups", () => {
  it("group rows by value in order of appearance", () => {
    const g = groupRows(["adam", "sgd", "adam", null], 4);
    expect(g.map((x) => [x.key, x.rows])).toEqual([
      ["adam", [0, 2]],
      ["sgd", [1]],
      ["∅", [3]],
    ]);
  });
  it("count, mean, min, max over finite numbers", () => {
    expect(groupStats([1, 2, "x", NaN, 6], [0, 1, 2, 3, 4])).toEqual({ count: 5, mean: 3, min: 1, max: 6 });
    expect(groupStats(["a"], [0])).toEqual({ count: 1, mean: null, min: null, max: null });
  });
});

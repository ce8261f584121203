import { describe, expect, it } from "vitest";
import { binValues, confusionCells, mediaKind, plotLines, refsOf, type TableJson } from "./media";

describe("media references", () => {
  it("name their kind", () => {
    expect(mediaKind({ _type: "image", path: "a.png" })).toBe("image");
    expect(mediaKind([{ _type: "image" }, { _type: "image" }])).toBe("image");
    expect(mediaKind({ _type: "plot" })).toBe("plot");
    expect(mediaKind({ _type: "histogram", bins: [0, 1], values: [3] })).toBe("histogram");
    expect(mediaKind(0.5)).toBeNull();
    expect(mediaKind({ a: 1 })).toBeNull();
    expect(mediaKind(null)).toBeNull();
    // a list of images, as the SDK stores it
    const list = { _type: "list", items_type: "image", items: [{ _type: "image", path: "a.png" }, { _type: "image", path: "b.png" }] };
    expect(mediaKind(list)).toBe("image");
    expect(refsOf(list).map((r) => r.path)).toEqual(["a.png", "b.png"]);
    expect(refsOf({ _type: "image", path: "c.png" }).map((r) => r.path)).toEqual(["c.png"]);
  });
  it("bin plot.histogram's values", () => {
    const { edges, counts } = binValues([0, 1, 2, 3, "NaN", 4], 2);
    expect(edges).toEqual([0, 2, 4]);
    expect(counts).toEqual([2, 3]);
    expect(binValues([], 4)).toEqual({ edges: [], counts: [] });
  });
});

describe("confusion matrix", () => {
  it("reads labbook.plot.confusion_matrix's table into a grid", () => {
    const t: TableJson = {
      columns: ["Actual", "Predicted", "nPredictions"],
      data: [
        ["cat", "cat", 5],
        ["cat", "dog", 1],
        ["dog", "cat", 2],
        ["dog", "dog", 7],
      ],
      chart: "confusion_matrix",
      fields: { actual: "Actual", predicted: "Predicted", value: "nPredictions" },
      meta: { class_names: ["cat", "dog"] },
    };
    expect(confusionCells(t)).toEqual({ classes: ["cat", "dog"], counts: [[5, 1], [2, 7]] });
  });
});

describe("x/y plots", () => {
  it("splits lines by stroke, reads non-finite cells, keeps monotone curves in order", () => {
    const t: TableJson = {
      columns: ["class", "recall", "precision", "threshold"],
      data: [
        ["a", 1, 0.5, 0.1],
        ["a", 0.5, 0.75, 0.5],
        ["a", 0.5, 1, 0.7],
        ["a", 0, 1, "Infinity"],
        ["b", 0.2, "NaN", 0.3],
        ["b", 0.1, 0.9, 0.2],
        ["b", 0.3, 0.8, 0.1],
      ],
      fields: { x: "recall", y: "precision", stroke: "class" },
    };
    const lines = plotLines(t);
    expect(lines.map((l) => l.name)).toEqual(["a", "b"]);
    // a PR curve runs from recall 1 down to 0: reversed, the tie keeps its order (a vertical step)
    expect(lines[0].pts.xs).toEqual([0, 0.5, 0.5, 1]);
    expect(lines[0].pts.ys).toEqual([1, 1, 0.75, 0.5]);
    // not monotone: sorted by x; NaN is a gap
    expect(lines[1].pts.xs).toEqual([0.1, 0.2, 0.3]);
    expect(lines[1].pts.ys).toEqual([0.9, null, 0.8]);
  });
  it("keeps string cells spelled like non-finite numbers as strings", () => {
    const t: TableJson = { columns: ["x", "y"], data: [[1, "NaN"]], str_cells: [[0, 1]], fields: { x: "x", y: "y" } };
    expect(plotLines(t, new Set(["0,1"]))[0].pts.ys).toEqual([null]);
  });
});

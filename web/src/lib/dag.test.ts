import { describe, expect, it } from "vitest";
import { DEFAULT_LAYOUT, edgePath, layoutDag, longestPathLayers, separate, totalCrossings, type Layout } from "./dag";

const e = (source: string, target: string) => ({ source, target });

function layerOf(l: Layout): Record<string, number> {
  return Object.fromEntries(l.nodes.map((n) => [n.id, n.layer]));
}

function overlaps(l: Layout): string[] {
  const out: string[] = [];
  for (let i = 0; i < l.nodes.length; i++) {
    for (let j = i + 1; j < l.nodes.length; j++) {
      const a = l.nodes[i];
      const b = l.nodes[j];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) out.push(`${a.id}/${b.id}`);
    }
  }
  return out;
}

// The e2e test's lineage: a dataset used by a training run that logs a model and predictions,
// and an evaluation run using the predictions (and the dataset again).
const LINEAGE = {
  nodes: ["artifact:dataset:v0", "run:train", "artifact:model:v0", "artifact:preds:v0", "run:eval"],
  edges: [e("artifact:dataset:v0", "run:train"), e("run:train", "artifact:model:v0"), e("run:train", "artifact:preds:v0"), e("artifact:preds:v0", "run:eval"), e("artifact:dataset:v0", "run:eval")],
};

describe("layering", () => {
  it("puts every node one layer right of its furthest predecessor", () => {
    const l = layoutDag(LINEAGE.nodes, LINEAGE.edges);
    expect(layerOf(l)).toEqual({ "artifact:dataset:v0": 0, "run:train": 1, "artifact:model:v0": 2, "artifact:preds:v0": 2, "run:eval": 3 });
    expect(l.layers).toEqual([["artifact:dataset:v0"], ["run:train"], expect.arrayContaining(["artifact:model:v0", "artifact:preds:v0"]), ["run:eval"]]);
    // the long edge dataset → eval runs through the two layers between: 4 points, left to right
    const long = l.edges.find((x) => x.source === "artifact:dataset:v0" && x.target === "run:eval")!;
    expect(long.points).toHaveLength(4);
    for (let i = 1; i < long.points.length; i++) expect(long.points[i][0]).toBeGreaterThan(long.points[i - 1][0]);
    for (const edge of l.edges) expect(edge.reversed).toBe(false);
  });

  it("moves a source right, next to its nearest successor", () => {
    // a → b → c → d, and x feeds d only: x sits in d's layer - 1, not in layer 0
    expect(longestPathLayers(5, [{ s: 0, t: 1 }, { s: 1, t: 2 }, { s: 2, t: 3 }, { s: 4, t: 3 }])).toEqual([0, 1, 2, 3, 2]);
    // a non-source keeps its longest-path layer even when a short path reaches it too
    expect(longestPathLayers(4, [{ s: 0, t: 1 }, { s: 1, t: 2 }, { s: 0, t: 2 }, { s: 2, t: 3 }])).toEqual([0, 1, 2, 3]);
  });

  it("breaks a cycle by reversing an edge, and lays out every edge forward otherwise", () => {
    // a run that used what it logged: run → art → run
    const l = layoutDag(["run:a", "artifact:x:v0", "run:b"], [e("run:a", "artifact:x:v0"), e("artifact:x:v0", "run:a"), e("artifact:x:v0", "run:b")]);
    expect(l.nodes).toHaveLength(3);
    const back = l.edges.filter((x) => x.reversed);
    expect(back).toHaveLength(1);
    const layers = layerOf(l);
    for (const edge of l.edges) {
      if (edge.reversed) expect(layers[edge.target]).toBeLessThan(layers[edge.source]);
      else expect(layers[edge.target]).toBeGreaterThan(layers[edge.source]);
    }
    // the reversed edge still starts at its own source
    const [b] = back;
    const src = l.nodes.find((n) => n.id === b.source)!;
    expect(b.points[0][0]).toBe(src.x);
  });

  it("ignores self-loops, duplicate edges and edges to unknown nodes", () => {
    const l = layoutDag(["a", "b", "a"], [e("a", "b"), e("a", "b"), e("a", "a"), e("a", "zzz")]);
    expect(l.nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(l.edges).toHaveLength(1);
    expect(layerOf(l)).toEqual({ a: 0, b: 1 });
  });

  it("lays out nothing as an empty picture, and a lone node alone", () => {
    expect(layoutDag([], [])).toMatchObject({ nodes: [], edges: [], width: 0, height: 0, crossings: 0 });
    const one = layoutDag(["r"], []);
    expect(one.nodes).toEqual([{ id: "r", layer: 0, order: 0, x: DEFAULT_LAYOUT.margin, y: DEFAULT_LAYOUT.margin, width: DEFAULT_LAYOUT.nodeWidth, height: DEFAULT_LAYOUT.nodeHeight }]);
    expect(one.width).toBe(DEFAULT_LAYOUT.nodeWidth + 2 * DEFAULT_LAYOUT.margin);
  });
});

describe("ordering", () => {
  it("uncrosses two edges the input order crosses", () => {
    // input order puts c above d, but a (top) feeds d and b feeds c
    const l = layoutDag(["a", "b", "c", "d"], [e("a", "d"), e("b", "c")]);
    expect(l.crossings).toBe(0);
    const pos = Object.fromEntries(l.nodes.map((n) => [n.id, n.order]));
    expect(Math.sign(pos.a - pos.b)).toBe(Math.sign(pos.d - pos.c));
  });

  it("finds a crossing-free order for a tree of versions and runs", () => {
    // one dataset used by three runs, each logging two models: a tree has a planar layered drawing
    const nodes = ["ds"];
    const edges = [];
    for (const r of ["r3", "r1", "r2"]) {
      nodes.push(r);
      edges.push(e("ds", r));
    }
    for (const m of ["m2a", "m3a", "m1a", "m3b", "m1b", "m2b"]) {
      nodes.push(m);
      edges.push(e(`r${m[1]}`, m));
    }
    const l = layoutDag(nodes, edges);
    expect(l.crossings).toBe(0);
    expect(overlaps(l)).toEqual([]);
    // each run's models sit together, in the runs' order
    const run = l.layers[2].map((m) => m[1]);
    expect(run.join("")).toMatch(/^(\d)\1(\d)\2(\d)\3$/);
    expect([...new Set(run)]).toEqual(l.layers[1].map((r) => r[1]));
  });

  it("counts crossings exactly", () => {
    const items = [
      { layer: 0, succs: [3, 4, 5] },
      { layer: 0, succs: [3] },
      { layer: 0, succs: [3] },
      { layer: 1, succs: [] },
      { layer: 1, succs: [] },
      { layer: 1, succs: [] },
    ];
    // 0→4 and 0→5 each cross 1→3 and 2→3
    expect(totalCrossings(items, [[0, 1, 2], [3, 4, 5]])).toBe(4);
    expect(totalCrossings(items, [[1, 2, 0], [3, 4, 5]])).toBe(0);
  });
});

describe("positions", () => {
  it("never overlap, whatever the graph", () => {
    // a pseudo-random DAG of 120 nodes (edges only from lower to higher index)
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const nodes = Array.from({ length: 120 }, (_, i) => `n${i}`);
    const edges = [];
    for (let i = 1; i < nodes.length; i++) {
      const k = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < k; j++) edges.push(e(nodes[Math.floor(rnd() * i)], nodes[i]));
    }
    const l = layoutDag(nodes, edges);
    expect(l.nodes).toHaveLength(120);
    expect(overlaps(l)).toEqual([]);
    for (const n of l.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.y).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width).toBeLessThanOrEqual(l.width);
      expect(n.y + n.height).toBeLessThanOrEqual(l.height);
    }
    // within a layer, order and y agree, with at least the gap between neighbours
    for (const layer of l.layers) {
      const ys = layer.map((id) => l.nodes.find((n) => n.id === id)!.y);
      for (let i = 1; i < ys.length; i++) expect(ys[i] - ys[i - 1]).toBeGreaterThanOrEqual(DEFAULT_LAYOUT.nodeHeight + DEFAULT_LAYOUT.nodeGap - 1e-9);
    }
    const layers = layerOf(l);
    for (const edge of l.edges) expect(layers[edge.target]).toBeGreaterThan(layers[edge.source]);
  });

  it("centres a lone successor on its two predecessors", () => {
    const l = layoutDag(["a", "b", "c"], [e("a", "c"), e("b", "c")]);
    const [a, b, c] = ["a", "b", "c"].map((id) => l.nodes.find((n) => n.id === id)!);
    expect(c.y + c.height / 2).toBeCloseTo((a.y + b.y) / 2 + a.height / 2, 6);
  });

  it("separates wishes by least squares, keeping the order", () => {
    expect(separate([0, 100, 200], [10, 10, 10])).toEqual([0, 100, 200]); // already apart
    expect(separate([50, 50], [10, 10])).toEqual([45, 55]); // pushed apart around their mean
    expect(separate([60, 0], [10, 10])).toEqual([25, 35]); // order kept even when wishes swap
  });

  it("draws edges as horizontal curves", () => {
    expect(edgePath([[0, 0], [10, 20]])).toBe("M0,0 C5,0 5,20 10,20");
    expect(edgePath([])).toBe("");
  });
});

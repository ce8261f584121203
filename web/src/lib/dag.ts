// A layered left-to-right layout of a directed graph (the lineage of runs and artifact versions),
// written here because a lineage graph is at most 500 nodes and a layout library would weigh
// more than the rest of the artifact pages together.
//
// The classic Sugiyama steps, each in its simplest form that reads well:
// 1. cycles are broken by reversing the back edges a depth-first search meets (lineage is a DAG
//    in practice, but a run that uses what it logged makes a cycle, and the layout must not hang);
// 2. longest-path layering: a node sits one layer right of its furthest predecessor, and a node
//    with no predecessor moves right until it sits just left of its nearest successor (so an
//    input used only late in the chain does not drag a long edge across the picture);
// 3. edges spanning several layers get a dummy node per layer crossed, so they take part in the
//    ordering and are drawn through free space;
// 4. ordering within layers by barycenters, sweeping down and up a few times and keeping the
//    order with the fewest crossings;
// 5. vertical positions: each node is pulled toward the mean of its neighbours, and a node's
//    layer is then placed as close to those wishes as the minimum separation allows (an isotonic
//    regression, exact), so nodes never overlap.

export interface DagEdge {
  source: string;
  target: string;
}

export interface LayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  /** horizontal space between layers (where the edges run) */
  layerGap: number;
  /** vertical space between neighbours in a layer */
  nodeGap: number;
  /** the height a dummy (an edge passing through a layer) takes up */
  dummyHeight: number;
  /** space around the drawing */
  margin: number;
  /** barycenter sweeps (each one down and one up) */
  sweeps: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = {
  nodeWidth: 200,
  nodeHeight: 48,
  layerGap: 72,
  nodeGap: 18,
  dummyHeight: 8,
  margin: 12,
  sweeps: 8,
};

export interface LaidNode {
  id: string;
  layer: number;
  /** position within its layer, top to bottom */
  order: number;
  /** top-left corner */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidEdge {
  source: string;
  target: string;
  /** from the source's right side through each layer crossed to the target's left side (for a
   * reversed edge of a cycle: from the source's left side back to the target's right side) */
  points: [number, number][];
  /** true when the edge was reversed to break a cycle (it points right to left) */
  reversed: boolean;
}

export interface Layout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  /** real node ids per layer, in order */
  layers: string[][];
  width: number;
  height: number;
  /** edge crossings of the final order (dummy segments included) */
  crossings: number;
}

interface Item {
  id: string;
  dummy: boolean;
  layer: number;
  height: number;
  preds: number[];
  succs: number[];
}

/** Lays out `nodes` (ids, in the order given: ties keep it) and `edges` among them. */
export function layoutDag(nodeIds: readonly string[], edgeList: readonly DagEdge[], options: Partial<LayoutOptions> = {}): Layout {
  const opt = { ...DEFAULT_LAYOUT, ...options };
  const ids: string[] = [];
  const index = new Map<string, number>();
  for (const id of nodeIds) {
    if (!index.has(id)) {
      index.set(id, ids.length);
      ids.push(id);
    }
  }
  const n = ids.length;
  // Distinct edges between known nodes; a self-loop has no place in a layered drawing.
  const seen = new Set<string>();
  const edges: { s: number; t: number }[] = [];
  for (const e of edgeList) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    const key = `${s} ${t}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ s, t });
  }

  const reversed = backEdges(n, edges);
  // The acyclic graph the layering sees: back edges turned around.
  const fwd = edges.map((e, i) => (reversed[i] ? { s: e.t, t: e.s } : e));
  const layer = longestPathLayers(n, fwd);

  // Items: the real nodes, then a dummy for every layer a long edge crosses.
  const items: Item[] = ids.map((id, i) => ({ id, dummy: false, layer: layer[i], height: opt.nodeHeight, preds: [], succs: [] }));
  const chains: number[][] = []; // per edge: the items it passes through, source to target (in fwd direction)
  fwd.forEach((e, k) => {
    const chain = [e.s];
    for (let l = layer[e.s] + 1; l < layer[e.t]; l++) {
      chain.push(items.length);
      items.push({ id: `\u0000${k}:${l}`, dummy: true, layer: l, height: opt.dummyHeight, preds: [], succs: [] });
    }
    chain.push(e.t);
    for (let j = 0; j + 1 < chain.length; j++) {
      items[chain[j]].succs.push(chain[j + 1]);
      items[chain[j + 1]].preds.push(chain[j]);
    }
    chains.push(chain);
  });

  const layerCount = n ? Math.max(...layer) + 1 : 0;
  let order = initialOrder(items, layerCount);
  let best = order.map((l) => [...l]);
  let bestCrossings = totalCrossings(items, order);
  for (let sweep = 0; sweep < opt.sweeps && bestCrossings > 0; sweep++) {
    order = reorder(items, order, "down");
    order = reorder(items, order, "up");
    const c = totalCrossings(items, order);
    if (c < bestCrossings) {
      bestCrossings = c;
      best = order.map((l) => [...l]);
    }
  }
  order = best;

  const y = placeVertically(items, order, opt);
  const xOf = (l: number) => opt.margin + l * (opt.nodeWidth + opt.layerGap);

  const nodes: LaidNode[] = [];
  const layers: string[][] = order.map(() => []);
  order.forEach((l, li) => {
    let k = 0;
    for (const it of l) {
      if (items[it].dummy) continue;
      layers[li].push(items[it].id);
      nodes.push({ id: items[it].id, layer: li, order: k++, x: xOf(li), y: y[it], width: opt.nodeWidth, height: opt.nodeHeight });
    }
  });
  nodes.sort((a, b) => index.get(a.id)! - index.get(b.id)!);

  const outEdges: LaidEdge[] = fwd.map((_, k) => {
    const chain = chains[k];
    const points: [number, number][] = chain.map((it, j) => {
      const l = items[it].layer;
      const cy = y[it] + items[it].height / 2;
      if (j === 0) return [xOf(l) + opt.nodeWidth, cy];
      if (j === chain.length - 1) return [xOf(l), cy];
      return [xOf(l) + opt.nodeWidth / 2, cy];
    });
    if (reversed[k]) points.reverse();
    return { source: ids[edges[k].s], target: ids[edges[k].t], points, reversed: reversed[k] };
  });

  let height = 0;
  for (let i = 0; i < items.length; i++) height = Math.max(height, y[i] + items[i].height);
  return {
    nodes,
    edges: outEdges,
    layers,
    width: layerCount ? xOf(layerCount - 1) + opt.nodeWidth + opt.margin : 0,
    height: n ? height + opt.margin : 0,
    crossings: bestCrossings,
  };
}

/** Which edges a depth-first search (nodes in input order) finds pointing back up its stack. */
function backEdges(n: number, edges: { s: number; t: number }[]): boolean[] {
  const out: number[][] = Array.from({ length: n }, () => []);
  edges.forEach((e, k) => out[e.s].push(k));
  const state = new Uint8Array(n); // 0 new, 1 on the stack, 2 done
  const back = edges.map(() => false);
  for (let root = 0; root < n; root++) {
    if (state[root]) continue;
    // iterative: a long chain of versions must not overflow the call stack
    const stack: [number, number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, i] = top;
      if (i >= out[v].length) {
        state[v] = 2;
        stack.pop();
        continue;
      }
      top[1]++;
      const k = out[v][i];
      const w = edges[k].t;
      if (state[w] === 1) back[k] = true;
      else if (state[w] === 0) {
        state[w] = 1;
        stack.push([w, 0]);
      }
    }
  }
  return back;
}

/** Longest-path layers of an acyclic graph, then sources moved next to their nearest successor. */
export function longestPathLayers(n: number, edges: readonly { s: number; t: number }[]): number[] {
  const preds: number[][] = Array.from({ length: n }, () => []);
  const succs: number[][] = Array.from({ length: n }, () => []);
  const indeg = new Array<number>(n).fill(0);
  for (const e of edges) {
    preds[e.t].push(e.s);
    succs[e.s].push(e.t);
    indeg[e.t]++;
  }
  const layer = new Array<number>(n).fill(0);
  const queue: number[] = [];
  for (let v = 0; v < n; v++) if (indeg[v] === 0) queue.push(v);
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi];
    for (const w of succs[v]) {
      layer[w] = Math.max(layer[w], layer[v] + 1);
      if (--indeg[w] === 0) queue.push(w);
    }
  }
  for (let v = 0; v < n; v++) {
    if (preds[v].length === 0 && succs[v].length > 0) layer[v] = Math.min(...succs[v].map((w) => layer[w])) - 1;
  }
  const low = n ? Math.min(...layer) : 0;
  return layer.map((l) => l - low);
}

/** Each layer's items in the order a breadth-first walk from the first layer meets them. */
function initialOrder(items: Item[], layerCount: number): number[][] {
  const order: number[][] = Array.from({ length: layerCount }, () => []);
  const placed = new Uint8Array(items.length);
  const visit = (start: number) => {
    const queue = [start];
    placed[start] = 1;
    for (let qi = 0; qi < queue.length; qi++) {
      const v = queue[qi];
      order[items[v].layer].push(v);
      for (const w of [...items[v].succs, ...items[v].preds]) {
        if (!placed[w]) {
          placed[w] = 1;
          queue.push(w);
        }
      }
    }
  };
  // Walks start at the leftmost nodes first, in input order, so a graph's order is stable.
  const starts = items.map((_, i) => i).filter((i) => !items[i].dummy);
  starts.sort((a, b) => items[a].layer - items[b].layer || a - b);
  for (const s of starts) if (!placed[s]) visit(s);
  return order;
}

/** One sweep: each layer sorted by the mean position of its neighbours in the layer before. */
function reorder(items: Item[], order: number[][], direction: "down" | "up"): number[][] {
  const pos = new Float64Array(items.length);
  for (const l of order) l.forEach((it, i) => (pos[it] = i));
  const next = order.map((l) => [...l]);
  const range = direction === "down" ? [...order.keys()].slice(1) : [...order.keys()].reverse().slice(1);
  for (const li of range) {
    const keyed = next[li].map((it, i) => {
      const nb = direction === "down" ? items[it].preds : items[it].succs;
      // a node without neighbours on that side keeps its place
      const bc = nb.length ? nb.reduce((a, w) => a + pos[w], 0) / nb.length : i;
      return { it, bc, i };
    });
    keyed.sort((a, b) => a.bc - b.bc || a.i - b.i);
    next[li] = keyed.map((k) => k.it);
    next[li].forEach((it, i) => (pos[it] = i));
  }
  return next;
}

/** Crossings between every pair of neighbouring layers (counted by inversions, a Fenwick tree). */
export function totalCrossings(items: readonly { succs: number[]; layer: number }[], order: number[][]): number {
  const pos = new Map<number, number>();
  for (const l of order) l.forEach((it, i) => pos.set(it, i));
  let total = 0;
  for (let li = 0; li + 1 < order.length; li++) {
    const pairs: [number, number][] = [];
    for (const it of order[li]) for (const w of items[it].succs) if (items[w].layer === li + 1) pairs.push([pos.get(it)!, pos.get(w)!]);
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const size = order[li + 1].length;
    const tree = new Array<number>(size + 1).fill(0);
    let inserted = 0;
    for (const [, b] of pairs) {
      // edges inserted so far ending strictly below b cross this one
      let le = 0;
      for (let i = b + 1; i > 0; i -= i & -i) le += tree[i];
      total += inserted - le;
      for (let i = b + 1; i <= size; i += i & -i) tree[i]++;
      inserted++;
    }
  }
  return total;
}

/** Top y of each item: pulled toward its neighbours, never closer than the gap to the next one. */
function placeVertically(items: Item[], order: number[][], opt: LayoutOptions): Float64Array {
  const y = new Float64Array(items.length);
  const gapAfter = (it: number) => items[it].height + opt.nodeGap;
  // start: each layer stacked from the top
  for (const l of order) {
    let at = opt.margin;
    for (const it of l) {
      y[it] = at;
      at += gapAfter(it);
    }
  }
  const center = (it: number) => y[it] + items[it].height / 2;
  const pass = (side: "preds" | "succs" | "both", layers: number[]) => {
    for (const li of layers) {
      const l = order[li];
      const want = l.map((it) => {
        const nb = side === "both" ? [...items[it].preds, ...items[it].succs] : items[it][side];
        if (!nb.length) return y[it];
        return nb.reduce((a, w) => a + center(w), 0) / nb.length - items[it].height / 2;
      });
      const placed = separate(want, l.map(gapAfter));
      l.forEach((it, i) => (y[it] = placed[i]));
    }
  };
  const down = [...order.keys()];
  const up = [...down].reverse();
  for (let i = 0; i < 4; i++) {
    pass("preds", down.slice(1));
    pass("succs", up.slice(1));
  }
  pass("both", down);
  let top = Infinity;
  for (let i = 0; i < items.length; i++) top = Math.min(top, y[i]);
  const shift = Number.isFinite(top) ? opt.margin - top : 0;
  for (let i = 0; i < items.length; i++) y[i] += shift;
  return y;
}

/**
 * Positions as close (least squares) to `want` as possible, in the same order, with position
 * i+1 at least `gap[i]` below position i: pool-adjacent-violators on the offsets removed.
 */
export function separate(want: readonly number[], gap: readonly number[]): number[] {
  const offset: number[] = [];
  let acc = 0;
  for (let i = 0; i < want.length; i++) {
    offset.push(acc);
    acc += gap[i];
  }
  // blocks of a non-decreasing fit of want[i] - offset[i]
  const blocks: { sum: number; count: number }[] = [];
  for (let i = 0; i < want.length; i++) {
    blocks.push({ sum: want[i] - offset[i], count: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1];
      const a = blocks[blocks.length - 2];
      if (a.sum / a.count <= b.sum / b.count) break;
      a.sum += b.sum;
      a.count += b.count;
      blocks.pop();
    }
  }
  const out: number[] = [];
  for (const b of blocks) for (let k = 0; k < b.count; k++) out.push(b.sum / b.count + offset[out.length]);
  return out;
}

/** An SVG path through the points: horizontal cubic curves between consecutive ones. */
export function edgePath(points: readonly [number, number][]): string {
  if (!points.length) return "";
  let d = `M${r(points[0][0])},${r(points[0][1])}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const mx = (x0 + x1) / 2;
    d += ` C${r(mx)},${r(y0)} ${r(mx)},${r(y1)} ${r(x1)},${r(y1)}`;
  }
  return d;
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

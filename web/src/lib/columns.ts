// Which columns the runs table shows, and how a column field reads as a header. Pure, so the
// default view (the config keys that vary and the main metrics, as `labbook runs` picks them)
// is tested without a browser.

import type { ProjectKeys } from "../api/dashboard";

/** Always fetched and shown first: the run's own attributes. */
export const BASE_FIELDS = ["name", "state", "created_at", "runtime", "tags", "user"] as const;

export const COUNTERS = new Set(["epoch", "step", "global_step", "batch", "iteration", "iter", "trainer/global_step"]);
const HEADLINE = /(^|[/_.-])(acc|accuracy|loss)($|[/_.-])/i;
const METRIC = /(^|[/_.-])(f1|auc|roc_auc|precision|recall|error|err|mae|mse|rmse|r2|score|perplexity|ppl|iou|dice|bleu|rouge|top1|top5|map|ndcg|reward|return)($|[/_.-])/i;
const HELD_OUT = /(^|[/_.-])(val|valid|validation|test|eval|dev)($|[/_.-])/i;

/** Numeric summary keys, most telling first: loss/accuracy, then other metrics; validation first. */
export function mainMetrics(keys: ProjectKeys): string[] {
  const out = keys.summary
    .filter((k) => k.types.includes("number") && !k.key.startsWith("_") && !k.key.startsWith("system/") && !COUNTERS.has(k.key.toLowerCase()))
    .map((k) => k.key);
  const rank = (k: string): [number, number, string] => {
    const tier = HEADLINE.test(k) ? 0 : METRIC.test(k) ? 1 : 2;
    const held = HELD_OUT.exec(k);
    const split = held === null ? 2 : held[2].toLowerCase().startsWith("val") ? 0 : 1;
    return [tier, split, k];
  };
  return out.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    return ra[0] - rb[0] || ra[1] - rb[1] || (ra[2] < rb[2] ? -1 : ra[2] > rb[2] ? 1 : 0);
  });
}

/** The config keys whose values differ between runs (`distinct > 1`), bookkeeping `_*` aside. */
export function variedConfig(keys: ProjectKeys): string[] {
  return keys.config.filter((k) => k.distinct > 1 && !k.key.startsWith("_") && !k.key.includes("._")).map((k) => k.key);
}

/** Default extra columns: the varied config (up to 8) and the main metrics (up to 4). */
export function defaultColumns(keys: ProjectKeys | undefined): string[] {
  if (!keys) return [];
  return [...variedConfig(keys).slice(0, 8).map((k) => `config.${k}`), ...mainMetrics(keys).slice(0, 4).map((k) => `summary.${k}`)];
}

/** A header: "lr" for config.lr, "val/loss" for summary.val/loss, "val/loss (min)" for a stat. */
export function columnLabel(field: string): string {
  if (field.startsWith("config.")) return field.slice(7);
  if (field.startsWith("summary.")) return field.slice(8);
  if (field.startsWith("metrics.")) {
    const rest = field.slice(8);
    const cut = rest.lastIndexOf(".");
    return cut > 0 ? `${rest.slice(0, cut)} (${rest.slice(cut + 1).replace("_", " ")})` : rest;
  }
  return ATTRIBUTE_LABELS[field] ?? field;
}

export const ATTRIBUTE_LABELS: Record<string, string> = {
  name: "Name",
  state: "State",
  created_at: "Created",
  runtime: "Runtime",
  tags: "Tags",
  user: "User",
  group: "Group",
  job_type: "Job type",
  notes: "Notes",
  finished_at: "Finished",
  heartbeat_at: "Heartbeat",
};

/** The kind of a column's field, for its title tooltip and the picker. */
export function columnKind(field: string): "attribute" | "config" | "summary" | "metric" {
  if (field.startsWith("config.")) return "config";
  if (field.startsWith("summary.")) return "summary";
  if (field.startsWith("metrics.")) return "metric";
  return "attribute";
}

/** Parse the `cols` URL parameter (comma list; a field with a comma is URL-encoded inside). */
export function parseCols(s: string | null): string[] | null {
  if (s === null) return null;
  if (s === "") return [];
  return s.split(",").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
}

export function colsParam(cols: string[]): string {
  return cols.map((c) => c.replace(/%/g, "%25").replace(/,/g, "%2C")).join(",");
}

export interface GroupStats {
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

/** count and mean/min/max of the finite numbers in `values` (at `idx`), for a group's row. */
export function groupStats(values: readonly unknown[] | undefined, idx: readonly number[]): GroupStats {
  let n = 0;
  let sum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  if (values) {
    for (const i of idx) {
      const v = values[i];
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      n++;
      sum += v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return { count: idx.length, mean: n ? sum / n : null, min: n ? lo : null, max: n ? hi : null };
}

/** Runs (row indices) grouped by the value of a column, in the order groups first appear. */
export function groupRows(values: readonly unknown[] | undefined, n: number): { key: string; value: unknown; rows: number[] }[] {
  const groups = new Map<string, { key: string; value: unknown; rows: number[] }>();
  for (let i = 0; i < n; i++) {
    const v = values?.[i];
    const key = v === undefined || v === null ? "∅" : typeof v === "object" ? JSON.stringify(v) : String(v);
    let g = groups.get(key);
    if (!g) {
      g = { key, value: v ?? null, rows: [] };
      groups.set(key, g);
    }
    g.rows.push(i);
  }
  return [...groups.values()];
}

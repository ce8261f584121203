// A run's config and summary as flat rows (run page, compare page), and its duration.

import type { RunOut } from "../api/client";
import { toDate } from "./format";

/** Nested dicts as dotted keys (config and summary tables). Media references stay whole. */
export function flatten(obj: Record<string, unknown>, prefix = "", out: [string, unknown][] = []): [string, unknown][] {
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v) && !("_type" in v) && !("$float" in v) && Object.keys(v).length) {
      flatten(v as Record<string, unknown>, `${prefix}${k}.`, out);
    } else out.push([`${prefix}${k}`, v]);
  }
  return out;
}

export function runtimeOf(run: Pick<RunOut, "started_at" | "created_at" | "finished_at" | "heartbeat_at" | "state">): number | null {
  const start = toDate(run.started_at ?? run.created_at);
  const end = toDate(run.finished_at) ?? (run.state === "running" ? new Date() : toDate(run.heartbeat_at));
  return start && end ? Math.max(0, (end.getTime() - start.getTime()) / 1000) : null;
}

export interface DiffRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

/** One row per key of any run; `differs` when the runs do not all hold the same value. */
export function diffRows(objs: Record<string, unknown>[]): DiffRow[] {
  const flat = objs.map((o) => new Map(flatten(o)));
  const keys = new Set<string>();
  for (const f of flat) for (const k of f.keys()) keys.add(k);
  return [...keys]
    .sort()
    .map((key) => {
      const values = flat.map((f) => f.get(key));
      const first = JSON.stringify(values[0] ?? null);
      return { key, values, differs: values.some((v) => JSON.stringify(v ?? null) !== first) };
    });
}


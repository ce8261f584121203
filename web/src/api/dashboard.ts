// The dashboard's own routes (contract items 1–7 of issue 10's brief): the keys of a project, the
// runs table in one columnar request, the envelopes of many runs × keys, bulk delete, parameter
// importance and file previews. Typed here by hand, mirroring the contract exactly; once the
// server's OpenAPI document has them (npm run api), these types should be replaced by the
// generated ones (`Schemas[...]`), which the compiler then checks against the same calls.

import { fillPath, queryString, send, type Schemas, type Sent } from "./client";

/**
 * The generated type of a wire schema once `schema.d.ts` has it, else the contract's type
 * written here: regenerating the client (npm run api) switches each over by itself, and the
 * compiler then checks this app against what the server really declares.
 */
type Generated<Name extends string, Contract> = Name extends keyof Schemas ? Schemas[Name] : Contract;

export type ValueType = "number" | "string" | "bool" | "null" | "object" | "array";

interface ConfigKeyContract {
  key: string;
  types: ValueType[];
  /** distinct values, capped at 1000; "varies" = distinct > 1 */
  distinct: number;
  runs: number;
}
interface SummaryKeyContract {
  key: string;
  types: ValueType[];
  runs: number;
}
interface MetricKeyContract {
  key: string;
  runs: number;
}
interface KeysContract {
  config: ConfigKeyContract[];
  summary: SummaryKeyContract[];
  metrics: MetricKeyContract[];
}
export type ProjectKeys = Generated<"KeysOut", KeysContract>;

interface ColumnsContract {
  total: number;
  ids: string[];
  columns: Record<string, unknown[]>;
  warnings: string[];
}
export type ColumnsOut = Generated<"ColumnsOut", ColumnsContract>;

interface SeriesContract {
  run: string;
  key: string;
  step_min: number;
  step_max: number;
  buckets: number;
  bucket_lo: number[];
  first_step: number[];
  last_step: number[];
  first: (number | string | null)[];
  last: (number | string | null)[];
  min: (number | string | null)[];
  max: (number | string | null)[];
  count: number[];
  first_time: (number | string | null)[];
  last_time: (number | string | null)[];
  rt_first: (number | string | null)[];
  rt_last: (number | string | null)[];
}
interface EnvelopesContract {
  series: SeriesContract[];
  runs_total: number;
}
export type EnvelopeSeries = Generated<"SeriesEnvelopeOut", SeriesContract>;
export type EnvelopesOut = Generated<"EnvelopesOut", EnvelopesContract>;

interface BulkDeleteContract {
  deleted: string[];
  missing: string[];
}
export type BulkDeleteOut = Generated<"BulkDeleteOut", BulkDeleteContract>;

interface ImportanceParamContract {
  key: string;
  correlation: number | null;
  importance: number;
  type: "number" | "category";
}
interface ImportanceContract {
  metric: string;
  runs: number;
  params: ImportanceParamContract[];
}
export type ImportanceOut = Generated<"ImportanceOut", ImportanceContract>;

const P = "/api/v1/projects/{entity}/{project}";

function project(entity: string, projectName: string, tail: string): string {
  return fillPath(P + tail, { entity, project: projectName });
}

export async function getKeys(entity: string, proj: string, signal?: AbortSignal): Promise<ProjectKeys> {
  const r = await send<ProjectKeys>("get", project(entity, proj, "/keys"), { signal });
  return r.data as ProjectKeys;
}

export interface ColumnsQuery {
  select: string[];
  filters?: object | null;
  order?: string | null;
  limit?: number;
}

export function columnsUrl(entity: string, proj: string, q: ColumnsQuery): string {
  return (
    project(entity, proj, "/columns") +
    queryString({
      select: q.select.join(","),
      filters: q.filters ? JSON.stringify(q.filters) : undefined,
      order: q.order ?? undefined,
      limit: q.limit ?? 10000,
    })
  );
}

/** The runs table; with `etag`, a 304 answers `data: null` (nothing changed). */
export function getColumns(
  entity: string,
  proj: string,
  q: ColumnsQuery,
  opts: { etag?: string | null; signal?: AbortSignal } = {},
): Promise<Sent<ColumnsOut>> {
  return send<ColumnsOut>("get", columnsUrl(entity, proj, q), opts);
}

export interface EnvelopesQuery {
  keys: string[];
  runs?: string[];
  filters?: object | null;
  order?: string | null;
  limit?: number;
  buckets?: number;
  step_min?: number;
  step_max?: number;
}

export function getEnvelopes(
  entity: string,
  proj: string,
  q: EnvelopesQuery,
  opts: { etag?: string | null; signal?: AbortSignal } = {},
): Promise<Sent<EnvelopesOut>> {
  const url =
    project(entity, proj, "/envelopes") +
    queryString({
      keys: q.keys.join(","),
      runs: q.runs?.length ? q.runs.join(",") : undefined,
      filters: !q.runs?.length && q.filters ? JSON.stringify(q.filters) : undefined,
      order: !q.runs?.length ? (q.order ?? undefined) : undefined,
      limit: !q.runs?.length ? q.limit : undefined,
      buckets: q.buckets,
      step_min: q.step_min,
      step_max: q.step_max,
    });
  return send<EnvelopesOut>("get", url, opts);
}

export async function deleteRuns(entity: string, proj: string, ids: string[]): Promise<BulkDeleteOut> {
  const r = await send<BulkDeleteOut>("delete", project(entity, proj, "/runs") + queryString({ ids: ids.join(",") }));
  return r.data as BulkDeleteOut;
}

export async function getImportance(
  entity: string,
  proj: string,
  q: { metric: string; params?: string[]; filters?: object | null },
  signal?: AbortSignal,
): Promise<ImportanceOut> {
  const url =
    project(entity, proj, "/importance") +
    queryString({
      metric: q.metric,
      params: q.params?.length ? q.params.join(",") : undefined,
      filters: q.filters ? JSON.stringify(q.filters) : undefined,
    });
  const r = await send<ImportanceOut>("get", url, { signal });
  return r.data as ImportanceOut;
}

export interface Preview {
  text: string;
  truncated: boolean;
  contentType: string;
}

/** At most the first 64 KiB of a run file as text (contract item 6: `?preview=1`). */
export async function previewFile(url: string, signal?: AbortSignal): Promise<Preview> {
  const sep = url.includes("?") ? "&" : "?";
  const res = await fetch(`${url}${sep}preview=1`, { credentials: "same-origin", signal });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  const buf = await res.arrayBuffer();
  return {
    text: new TextDecoder("utf-8", { fatal: false }).decode(buf),
    truncated: res.headers.get("X-Labbook-Truncated") === "true",
    contentType: res.headers.get("Content-Type") ?? "",
  };
}

// A thin typed fetch over the server's OpenAPI document: `schema.d.ts` is generated from
// `web/openapi.json` (npm run api), so a route's path, parameters, body and answer are checked
// by the compiler here. Same origin only; the session cookie does the authentication.

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type RunOut = Schemas["RunOut"];
export type ProjectOut = Schemas["ProjectOut"];
export type ViewerOut = Schemas["ViewerOut"];
export type MetricOut = Schemas["MetricOut"];
export type FileOut = Schemas["FileOut"];
export type EnvelopeOut = Schemas["EnvelopeOut"];
export type HistoryOut = Schemas["HistoryOut"];

/** An error answer of the API: `{"error": {"code", "message"}}` with its status. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Method = "get" | "put" | "post" | "patch" | "delete";
type Op<P extends keyof paths, M extends Method> = paths[P][M];
type JsonOf<R> = R extends { content: { "application/json": infer J } } ? J : void;
type Ok<O> = O extends { responses: infer Rs }
  ? 200 extends keyof Rs
    ? JsonOf<Rs[200]>
    : 201 extends keyof Rs
      ? JsonOf<Rs[201]>
      : void
  : never;
type PathOf<O> = O extends { parameters: { path: infer PP } } ? PP : undefined;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : undefined;
type BodyOf<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : undefined;

export interface CallOptions<O> {
  path?: PathOf<O>;
  query?: QueryOf<O>;
  body?: BodyOf<O>;
  signal?: AbortSignal;
}

/** Fills `{name}` segments; `{path}` (a run file) keeps its slashes. */
export function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = String(params?.[name] ?? "");
    return name === "path" ? v.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(v);
  });
}

export function queryString(query: Record<string, unknown> | undefined | null): string {
  if (!query) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Called on a 401 from any request (not the login itself): the app shows the login page. */
let onUnauthenticated: (() => void) | null = null;
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

export interface Sent<T> {
  status: number;
  data: T | null; // null on 304 and 204
  etag: string | null;
}

/** One request: JSON in and out, conditional when `etag` is given (304 → data null). */
export async function send<T>(
  method: string,
  url: string,
  opts: { body?: unknown; etag?: string | null; signal?: AbortSignal; quiet401?: boolean } = {},
): Promise<Sent<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.etag) headers["If-None-Match"] = opts.etag;
  const res = await fetch(url, {
    method: method.toUpperCase(),
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "same-origin",
    signal: opts.signal,
    cache: "no-cache",
  });
  const etag = res.headers.get("ETag");
  if (res.status === 304) return { status: 304, data: null, etag: etag ?? opts.etag ?? null };
  if (!res.ok) {
    let code = "error";
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      /* not a JSON error body (a proxy's page): keep the status line */
    }
    if (res.status === 401 && !opts.quiet401) onUnauthenticated?.();
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204 || res.headers.get("Content-Length") === "0") return { status: res.status, data: null, etag };
  return { status: res.status, data: (await res.json()) as T, etag };
}

/** A typed call of a route of the generated schema. */
export async function call<P extends keyof paths, M extends Method & keyof paths[P]>(
  method: M,
  path: P,
  opts: CallOptions<Op<P, M>> = {},
): Promise<Ok<Op<P, M>>> {
  const url = fillPath(path as string, opts.path as Record<string, unknown>) + queryString(opts.query as Record<string, unknown>);
  const r = await send<Ok<Op<P, M>>>(method, url, { body: opts.body, signal: opts.signal });
  return r.data as Ok<Op<P, M>>;
}

/** The URL of a run file (download, image source, preview). */
export function fileUrl(entity: string, project: string, run: string, path: string, query?: Record<string, unknown>): string {
  return fillPath("/api/v1/projects/{entity}/{project}/runs/{run}/files/{path}", { entity, project, run, path }) + queryString(query);
}

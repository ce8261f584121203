// A small router over the History API: the app has a dozen pages and keeps its view state in the
// query string, so a dependency for routing would cost more bytes than it saves.

import { createElement, useMemo, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export type Route =
  | { page: "projects" }
  | { page: "login" }
  | { page: "teams" }
  | { page: "workspace"; entity: string; project: string }
  | { page: "run"; entity: string; project: string; run: string }
  | { page: "compare"; entity: string; project: string }
  | { page: "artifacts"; entity: string; project: string }
  | { page: "collection"; entity: string; project: string; name: string }
  | { page: "version"; entity: string; project: string; name: string; ref: string }
  | { page: "registry"; entity: string | null }
  | { page: "model"; entity: string; model: string }
  | { page: "notfound" };

/** The pages that belong to a project (`/{entity}/{project}/...`). */
export type ProjectRoute = Extract<Route, { entity: string; project: string }>;

export function isProjectRoute(r: Route): r is ProjectRoute {
  return "project" in r;
}

export function matchRoute(pathname: string): Route {
  const parts = pathname
    .split("/")
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts.length === 0) return { page: "projects" };
  if (parts.length === 1 && parts[0] === "login") return { page: "login" };
  if (parts.length === 1 && parts[0] === "teams") return { page: "teams" };
  // `registry` comes before the entity/project pages: an entity named so keeps its workspace
  // only under other names (GET /registry/{e} is the registry's).
  if (parts[0] === "registry" && parts.length <= 3) {
    if (parts.length === 1) return { page: "registry", entity: null };
    if (parts.length === 2) return { page: "registry", entity: parts[1] };
    return { page: "model", entity: parts[1], model: parts[2] };
  }
  if (parts.length === 2) return { page: "workspace", entity: parts[0], project: parts[1] };
  if (parts.length === 3 && parts[2] === "compare") return { page: "compare", entity: parts[0], project: parts[1] };
  if (parts.length === 4 && parts[2] === "runs") return { page: "run", entity: parts[0], project: parts[1], run: parts[3] };
  if (parts[2] === "artifacts") {
    if (parts.length === 3) return { page: "artifacts", entity: parts[0], project: parts[1] };
    if (parts.length === 4) return { page: "collection", entity: parts[0], project: parts[1], name: parts[3] };
    if (parts.length === 5) return { page: "version", entity: parts[0], project: parts[1], name: parts[3], ref: parts[4] };
  }
  return { page: "notfound" };
}

const listeners = new Set<() => void>();
function notify(): void {
  for (const l of listeners) l();
}
if (typeof window !== "undefined") window.addEventListener("popstate", notify);

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  window.history[opts.replace ? "replaceState" : "pushState"](null, "", to);
  notify();
  if (!opts.replace) window.scrollTo(0, 0);
}

/** The current path and query; re-renders on navigation. */
export function useLocation(): { pathname: string; search: string } {
  const loc = useSyncExternalStore(subscribe, snapshot, () => "/");
  return useMemo(() => {
    const i = loc.indexOf("?");
    return i < 0 ? { pathname: loc, search: "" } : { pathname: loc.slice(0, i), search: loc.slice(i) };
  }, [loc]);
}

export function useQuery(): URLSearchParams {
  const { search } = useLocation();
  return useMemo(() => new URLSearchParams(search), [search]);
}

/**
 * Changes some query parameters of the current URL (null removes one). View state changes replace
 * the history entry by default, so Back leaves the page instead of undoing every click.
 */
export function setQuery(updates: Record<string, string | null | undefined>, opts: { push?: boolean } = {}): void {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(updates)) {
    if (v === null || v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString().replace(/%2C/g, ",").replace(/%2F/g, "/");
  navigate(window.location.pathname + (s ? `?${s}` : ""), { replace: !opts.push });
}

export function projectPath(entity: string, project: string): string {
  return `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`;
}

export function runPath(entity: string, project: string, run: string): string {
  return `${projectPath(entity, project)}/runs/${encodeURIComponent(run)}`;
}

export function comparePath(entity: string, project: string, runs: string[]): string {
  return `${projectPath(entity, project)}/compare?runs=${runs.map(encodeURIComponent).join(",")}`;
}

export function artifactsPath(entity: string, project: string, name?: string, ref?: string): string {
  let p = `${projectPath(entity, project)}/artifacts`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (name !== undefined && ref !== undefined) p += `/${encodeURIComponent(ref)}`;
  return p;
}

export function registryPath(entity?: string | null, model?: string): string {
  let p = "/registry";
  if (entity) p += `/${encodeURIComponent(entity)}`;
  if (entity && model !== undefined) p += `/${encodeURIComponent(model)}`;
  return p;
}

/** An `<a>` that navigates in-app on a plain click (new tab, middle click and the rest still work). */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; replace?: boolean }) {
  const { to, replace, onClick, ...rest } = props;
  return createElement("a", {
    ...rest,
    href: to,
    onClick: (e: MouseEvent<HTMLAnchorElement>) => {
      onClick?.(e);
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(to, { replace });
    },
  });
}

/** The charts' zoom in the URL (`zoom=lo,hi`), shared by every page with charts. */
export function parseZoom(s: string | null): [number, number] | null {
  if (!s) return null;
  const [a, b] = s.split(",").map(Number);
  return Number.isFinite(a) && Number.isFinite(b) && b > a ? [a, b] : null;
}

export function setZoomParam(z: [number, number] | null): void {
  setQuery({ zoom: z ? `${+z[0].toPrecision(8)},${+z[1].toPrecision(8)}` : null });
}

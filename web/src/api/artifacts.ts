// Artifacts, lineage and the model registry (docs/api.md, "## Artifacts"): typed by hand from
// the contract until the server's OpenAPI document has the routes, then by the generated schema.

import { fillPath, queryString, send } from "./client";
import type { ManifestEntry } from "../lib/tree";

export interface RunLink {
  entity: string;
  project: string;
  id: string;
  name: string | null;
  state: string;
}

export interface VersionOut {
  entity: string;
  project: string;
  name: string;
  type: string;
  version: string;
  index: number;
  digest: string;
  description: string | null;
  metadata: Record<string, unknown>;
  aliases: string[];
  size: number;
  file_count: number;
  created_at: string;
  logged_by: RunLink | null;
}

export interface VersionDetailOut extends VersionOut {
  used_by: RunLink[];
}

export interface CollectionOut {
  entity: string;
  project: string;
  name: string;
  type: string;
  description: string | null;
  version_count: number;
  latest: VersionOut;
  updated_at: string;
}

export interface CollectionDetailOut extends CollectionOut {
  versions: VersionOut[];
}

export interface ManifestOut {
  digest: string;
  entries: ManifestEntry[];
}

export interface RunArtifactsOut {
  logged: VersionOut[];
  used: VersionOut[];
}

export interface RunNode {
  id: string;
  kind: "run";
  entity: string;
  project: string;
  run_id: string;
  name: string | null;
  state: string;
}

export interface ArtifactNode {
  id: string;
  kind: "artifact";
  entity: string;
  project: string;
  name: string;
  type: string;
  version: string;
  index: number;
  digest: string;
}

export type LineageNode = RunNode | ArtifactNode;

export interface LineageOut {
  root: string;
  nodes: LineageNode[];
  edges: { source: string; target: string }[];
  truncated: boolean;
}

export type Direction = "both" | "upstream" | "downstream";

export interface ModelOut {
  entity: string;
  name: string;
  description: string | null;
  created_at: string;
  version_count: number;
  /** alias → "vN" */
  aliases: Record<string, string>;
}

export interface LinkOut {
  model: string;
  entity: string;
  version: string;
  index: number;
  aliases: string[];
  linked_at: string;
  artifact: VersionOut;
}

export interface ModelDetailOut extends ModelOut {
  versions: LinkOut[];
}

/** A version as the API names it in a body: `{"entity", "project", "name", "ref"}`. */
export interface ArtifactRef {
  entity: string;
  project: string;
  name: string;
  ref: string;
}

const A = "/api/v1/projects/{entity}/{project}/artifacts";

async function get<T>(url: string, signal?: AbortSignal): Promise<T> {
  return (await send<T>("get", url, { signal })).data as T;
}

export function listArtifacts(entity: string, project: string, signal?: AbortSignal): Promise<CollectionOut[]> {
  return get(fillPath(A, { entity, project }), signal);
}

export function getCollection(entity: string, project: string, name: string, signal?: AbortSignal): Promise<CollectionDetailOut> {
  return get(fillPath(`${A}/{name}`, { entity, project, name }), signal);
}

export function getVersion(entity: string, project: string, name: string, ref: string, signal?: AbortSignal): Promise<VersionDetailOut> {
  return get(fillPath(`${A}/{name}/{ref}`, { entity, project, name, ref }), signal);
}

export async function patchVersion(
  v: ArtifactRef,
  body: { aliases?: string[]; description?: string | null; metadata?: Record<string, unknown> },
): Promise<VersionOut> {
  return (await send<VersionOut>("patch", fillPath(`${A}/{name}/{ref}`, { ...v }), { body })).data as VersionOut;
}

export function getManifest(v: ArtifactRef, signal?: AbortSignal): Promise<ManifestOut> {
  return get(fillPath(`${A}/{name}/{ref}/manifest`, { ...v }), signal);
}

/** The URL of one file of a version (`preview=1`: its first 64 KiB; `download=1`: an attachment). */
export function artifactFileUrl(v: ArtifactRef, path: string, query?: Record<string, unknown>): string {
  return fillPath(`${A}/{name}/{ref}/files/{path}`, { ...v, path }) + queryString(query);
}

export type LineageRoot = { kind: "artifact"; entity: string; project: string; name: string; ref: string } | { kind: "run"; entity: string; project: string; run: string };

export function getLineage(root: LineageRoot, depth: number, direction: Direction, signal?: AbortSignal): Promise<LineageOut> {
  const base =
    root.kind === "run"
      ? fillPath("/api/v1/projects/{entity}/{project}/runs/{run}/lineage", { ...root })
      : fillPath(`${A}/{name}/{ref}/lineage`, { ...root });
  return get(base + queryString({ depth, direction: direction === "both" ? undefined : direction }), signal);
}

export function getRunArtifacts(entity: string, project: string, run: string, signal?: AbortSignal): Promise<RunArtifactsOut> {
  return get(fillPath("/api/v1/projects/{entity}/{project}/runs/{run}/artifacts", { entity, project, run }), signal);
}

export function listModels(entity: string, signal?: AbortSignal): Promise<ModelOut[]> {
  return get(fillPath("/api/v1/registry/{entity}", { entity }), signal);
}

export function getModel(entity: string, model: string, signal?: AbortSignal): Promise<ModelDetailOut> {
  return get(fillPath("/api/v1/registry/{entity}/{model}", { entity, model }), signal);
}

export async function linkToRegistry(entity: string, model: string, artifact: ArtifactRef, aliases: string[]): Promise<LinkOut> {
  const url = fillPath("/api/v1/registry/{entity}/{model}/versions", { entity, model });
  return (await send<LinkOut>("post", url, { body: { artifact, aliases } })).data as LinkOut;
}

export async function patchLink(entity: string, model: string, ref: string, aliases: string[]): Promise<LinkOut> {
  const url = fillPath("/api/v1/registry/{entity}/{model}/{ref}", { entity, model, ref });
  return (await send<LinkOut>("patch", url, { body: { aliases } })).data as LinkOut;
}

/** How a version reads in a list: `name:v3`. */
export function versionLabel(v: { name: string; version: string }): string {
  return `${v.name}:${v.version}`;
}

/** The alias a person may set: a name, not `vN`, not `latest` (the server's rule, checked as typed). */
export function aliasProblem(alias: string): string | null {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(alias) || alias === "." || alias === "..") return "use 1-128 of A-Z a-z 0-9 _ . -";
  if (/^v(0|[1-9][0-9]{0,8})$/.test(alias)) return "vN names a version";
  if (alias === "latest") return "latest always follows the newest version";
  return null;
}

/** Whether the viewer may write under `entity` (member or admin there, or a site admin): the
 * pages offer editing only then, and the server checks again. */
export function canWrite(viewer: { admin: boolean; entities: { name: string; role: string }[] } | null, entity: string): boolean {
  if (!viewer) return false;
  return viewer.admin || viewer.entities.some((e) => e.name === entity && e.role !== "viewer");
}

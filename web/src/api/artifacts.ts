// Artifacts, lineage and the model registry (docs/api.md, "## Artifacts"): typed calls of the
// generated schema, and the few things the pages need beside them (file URLs, alias rules).

import { call, fillPath, queryString, type Schemas } from "./client";

export type RunLink = Schemas["RunLinkOut"];
export type VersionOut = Schemas["VersionOut"];
export type VersionDetailOut = Schemas["VersionDetailOut"];
export type CollectionOut = Schemas["CollectionOut"];
export type CollectionDetailOut = Schemas["CollectionDetailOut"];
export type ManifestOut = Schemas["ManifestOut"];
export type RunArtifactsOut = Schemas["RunArtifactsOut"];
/** A run or an artifact version: the fields of the other kind are absent (null). */
export type LineageNode = Schemas["LineageNode"];
export type LineageOut = Schemas["LineageOut"];
export type ModelOut = Schemas["RegisteredModelOut"];
export type ModelDetailOut = Schemas["RegisteredModelDetailOut"];
export type LinkOut = Schemas["LinkOut"];
export type Direction = "both" | "upstream" | "downstream";

/** A version as the API names it in a body: `{"entity", "project", "name", "ref"}`. */
export interface ArtifactRef {
  entity: string;
  project: string;
  name: string;
  ref: string;
}

export function listArtifacts(entity: string, project: string, signal?: AbortSignal): Promise<CollectionOut[]> {
  return call("get", "/api/v1/projects/{entity}/{project}/artifacts", { path: { entity, project }, signal });
}

export function getCollection(entity: string, project: string, name: string, signal?: AbortSignal): Promise<CollectionDetailOut> {
  return call("get", "/api/v1/projects/{entity}/{project}/artifacts/{name}", { path: { entity, project, name }, signal });
}

export function getVersion(entity: string, project: string, name: string, ref: string, signal?: AbortSignal): Promise<VersionDetailOut> {
  return call("get", "/api/v1/projects/{entity}/{project}/artifacts/{name}/{ref}", { path: { entity, project, name, ref }, signal });
}

export function patchVersion(v: ArtifactRef, body: Schemas["VersionPatch"]): Promise<VersionOut> {
  return call("patch", "/api/v1/projects/{entity}/{project}/artifacts/{name}/{ref}", { path: { ...v }, body });
}

export function getManifest(v: ArtifactRef, signal?: AbortSignal): Promise<ManifestOut> {
  return call("get", "/api/v1/projects/{entity}/{project}/artifacts/{name}/{ref}/manifest", { path: { ...v }, signal });
}

/** The URL of one file of a version (`preview=1`: its first 64 KiB; `download=1`: an attachment). */
export function artifactFileUrl(v: ArtifactRef, path: string, query?: Record<string, unknown>): string {
  return fillPath("/api/v1/projects/{entity}/{project}/artifacts/{name}/{ref}/files/{path}", { ...v, path }) + queryString(query);
}

export type LineageRoot = { kind: "artifact"; entity: string; project: string; name: string; ref: string } | { kind: "run"; entity: string; project: string; run: string };

export function getLineage(root: LineageRoot, depth: number, direction: Direction, signal?: AbortSignal): Promise<LineageOut> {
  const query = { depth, direction };
  if (root.kind === "run") {
    const { entity, project, run } = root;
    return call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/lineage", { path: { entity, project, run }, query, signal });
  }
  const { entity, project, name, ref } = root;
  return call("get", "/api/v1/projects/{entity}/{project}/artifacts/{name}/{ref}/lineage", { path: { entity, project, name, ref }, query, signal });
}

export function getRunArtifacts(entity: string, project: string, run: string, signal?: AbortSignal): Promise<RunArtifactsOut> {
  return call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/artifacts", { path: { entity, project, run }, signal });
}

export function listModels(entity: string, signal?: AbortSignal): Promise<ModelOut[]> {
  return call("get", "/api/v1/registry/{entity}", { path: { entity }, signal });
}

export function getModel(entity: string, model: string, signal?: AbortSignal): Promise<ModelDetailOut> {
  return call("get", "/api/v1/registry/{entity}/{model}", { path: { entity, model }, signal });
}

export function linkToRegistry(entity: string, model: string, artifact: ArtifactRef, aliases: string[]): Promise<LinkOut> {
  return call("post", "/api/v1/registry/{entity}/{model}/versions", { path: { entity, model }, body: { artifact, aliases } });
}

export function patchLink(entity: string, model: string, ref: string, aliases: string[]): Promise<LinkOut> {
  return call("patch", "/api/v1/registry/{entity}/{model}/{ref}", { path: { entity, model, ref }, body: { aliases } });
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

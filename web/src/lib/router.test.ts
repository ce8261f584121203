import { describe, expect, it } from "vitest";
import { artifactsPath, comparePath, matchRoute, parseZoom, projectPath, registryPath, runPath } from "./router";

describe("app URLs (what run.url prints)", () => {
  it("match every page", () => {
    expect(matchRoute("/")).toEqual({ page: "projects" });
    expect(matchRoute("/login")).toEqual({ page: "login" });
    expect(matchRoute("/teams")).toEqual({ page: "teams" });
    expect(matchRoute("/alice/digits")).toEqual({ page: "workspace", entity: "alice", project: "digits" });
    expect(matchRoute("/alice/digits/")).toEqual({ page: "workspace", entity: "alice", project: "digits" });
    expect(matchRoute("/alice/digits/runs/ab12cd34")).toEqual({ page: "run", entity: "alice", project: "digits", run: "ab12cd34" });
    expect(matchRoute("/alice/digits/compare")).toEqual({ page: "compare", entity: "alice", project: "digits" });
    expect(matchRoute("/a/b/c/d/e")).toEqual({ page: "notfound" });
    expect(matchRoute("/alice/digits/artifacts")).toEqual({ page: "artifacts", entity: "alice", project: "digits" });
    expect(matchRoute("/alice/digits/artifacts/mnist")).toEqual({ page: "collection", entity: "alice", project: "digits", name: "mnist" });
    expect(matchRoute("/alice/digits/artifacts/mnist/v3")).toEqual({ page: "version", entity: "alice", project: "digits", name: "mnist", ref: "v3" });
    expect(matchRoute("/alice/digits/artifacts/mnist/v3/x")).toEqual({ page: "notfound" });
    expect(matchRoute("/registry")).toEqual({ page: "registry", entity: null });
    expect(matchRoute("/registry/vision-lab")).toEqual({ page: "registry", entity: "vision-lab" });
    expect(matchRoute("/registry/vision-lab/classifier")).toEqual({ page: "model", entity: "vision-lab", model: "classifier" });
    expect(matchRoute("/registry/p/runs/r")).toEqual({ page: "run", entity: "registry", project: "p", run: "r" });
    expect(matchRoute("/alice/my%20proj")).toEqual({ page: "workspace", entity: "alice", project: "my proj" });
  });
  it("build paths that match back", () => {
    expect(matchRoute(runPath("team.x", "p-1", "r_1"))).toEqual({ page: "run", entity: "team.x", project: "p-1", run: "r_1" });
    expect(projectPath("a", "b")).toBe("/a/b");
    expect(comparePath("a", "b", ["r1", "r2"])).toBe("/a/b/compare?runs=r1,r2");
    expect(matchRoute(artifactsPath("a", "b", "ds.v2", "prod"))).toEqual({ page: "version", entity: "a", project: "b", name: "ds.v2", ref: "prod" });
    expect(artifactsPath("a", "b")).toBe("/a/b/artifacts");
    expect(artifactsPath("a", "b", "m")).toBe("/a/b/artifacts/m");
    expect(registryPath("team", "clf")).toBe("/registry/team/clf");
    expect(registryPath(null)).toBe("/registry");
  });
  it("read the zoom parameter", () => {
    expect(parseZoom("10,20")).toEqual([10, 20]);
    expect(parseZoom("20,10")).toBeNull();
    expect(parseZoom("x,1")).toBeNull();
    expect(parseZoom(null)).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import { comparePath, matchRoute, parseZoom, projectPath, runPath } from "./router";

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
    expect(matchRoute("/alice/my%20proj")).toEqual({ page: "workspace", entity: "alice", project: "my proj" });
  });
  it("build paths that match back", () => {
    expect(matchRoute(runPath("team.x", "p-1", "r_1"))).toEqual({ page: "run", entity: "team.x", project: "p-1", run: "r_1" });
    expect(projectPath("a", "b")).toBe("/a/b");
    expect(comparePath("a", "b", ["r1", "r2"])).toBe("/a/b/compare?runs=r1,r2");
  });
  it("read the zoom parameter", () => {
    expect(parseZoom("10,20")).toEqual([10, 20]);
    expect(parseZoom("20,10")).toBeNull();
    expect(parseZoom("x,1")).toBeNull();
    expect(parseZoom(null)).toBeNull();
  });
});

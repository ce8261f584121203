import { describe, expect, it } from "vitest";
import { baseName, buildTree, crumbs, findFolder, parentOf, type ManifestEntry } from "./tree";

const file = (path: string, size: number, ref: string | null = null): ManifestEntry => ({ path, digest: `d-${path}`, size, ref });

const ENTRIES = [
  file("README.md", 10),
  file("images/train/img10.png", 100),
  file("images/train/img2.png", 200),
  file("images/test/a.png", 50),
  file("labels.csv", 5),
  file("remote/shard-0.parquet", 1000, "s3://bucket/shard-0.parquet"),
];

describe("manifest → folders", () => {
  it("nests paths into folders with sizes and counts of everything below", () => {
    const root = buildTree(ENTRIES);
    expect(root.count).toBe(6);
    expect(root.size).toBe(1365);
    expect(root.folders.map((f) => f.name)).toEqual(["images", "remote"]);
    expect(root.files.map((f) => f.path)).toEqual(["labels.csv", "README.md"]);
    const images = root.folders[0];
    expect(images).toMatchObject({ path: "images", size: 350, count: 3 });
    expect(images.files).toEqual([]);
    expect(images.folders.map((f) => [f.path, f.size, f.count])).toEqual([
      ["images/test", 50, 1],
      ["images/train", 300, 2],
    ]);
    // numbers in names sort as numbers
    expect(images.folders[1].files.map((f) => baseName(f.path))).toEqual(["img2.png", "img10.png"]);
    // a reference keeps its URI
    expect(root.folders[1].files[0].ref).toBe("s3://bucket/shard-0.parquet");
  });

  it("finds a folder by its path, and nothing for a missing one", () => {
    const root = buildTree(ENTRIES);
    expect(findFolder(root, "")).toBe(root);
    expect(findFolder(root, "images/train")?.count).toBe(2);
    expect(findFolder(root, "/images/train/")?.path).toBe("images/train");
    expect(findFolder(root, "images/nope")).toBeNull();
    expect(findFolder(root, "labels.csv")).toBeNull(); // a file is no folder
  });

  it("is empty for an empty manifest", () => {
    expect(buildTree([])).toEqual({ name: "", path: "", folders: [], files: [], size: 0, count: 0 });
  });

  it("names parents and breadcrumbs", () => {
    expect(parentOf("a/b/c.txt")).toBe("a/b");
    expect(parentOf("c.txt")).toBe("");
    expect(crumbs("a/b")).toEqual([
      { name: "", path: "" },
      { name: "a", path: "a" },
      { name: "b", path: "a/b" },
    ]);
    expect(crumbs("")).toEqual([{ name: "", path: "" }]);
  });
});

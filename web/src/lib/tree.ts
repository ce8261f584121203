// An artifact's manifest (a flat list of `/` paths) as folders, for the version page's file
// browser: a dataset of many files is browsed a folder at a time, with each folder's size and
// file count, instead of as one list of a hundred thousand paths.

export interface ManifestEntry {
  path: string;
  digest: string;
  size: number;
  /** a reference entry's URI (nothing was copied); null for a stored file */
  ref: string | null;
}

export interface Folder {
  /** the last segment ("" for the root) */
  name: string;
  /** from the root, without a trailing slash ("" for the root) */
  path: string;
  folders: Folder[];
  files: ManifestEntry[];
  /** bytes of every file below, references included (their size as the manifest says) */
  size: number;
  /** files below, at any depth */
  count: number;
}

/** The folder tree of `entries`; folders and files sorted by name within each folder. */
export function buildTree(entries: readonly ManifestEntry[]): Folder {
  const root: Folder = { name: "", path: "", folders: [], files: [], size: 0, count: 0 };
  const index = new Map<string, Folder>([["", root]]);
  for (const entry of entries) {
    const parts = entry.path.split("/").filter(Boolean);
    if (!parts.length) continue;
    let folder = root;
    folder.size += entry.size;
    folder.count++;
    for (let i = 0; i < parts.length - 1; i++) {
      const path = parts.slice(0, i + 1).join("/");
      let child = index.get(path);
      if (!child) {
        child = { name: parts[i], path, folders: [], files: [], size: 0, count: 0 };
        index.set(path, child);
        folder.folders.push(child);
      }
      child.size += entry.size;
      child.count++;
      folder = child;
    }
    folder.files.push(entry);
  }
  sortTree(root);
  return root;
}

function sortTree(folder: Folder): void {
  folder.folders.sort((a, b) => compareNames(a.name, b.name));
  folder.files.sort((a, b) => compareNames(baseName(a.path), baseName(b.path)));
  for (const f of folder.folders) sortTree(f);
}

/** Names as a person sorts them: "file2" before "file10", case aside. */
export function compareNames(a: string, b: string): number {
  return COLLATOR.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
const COLLATOR = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The folder at `path` ("" or "a/b", slashes at either end ignored); null when there is none. */
export function findFolder(root: Folder, path: string): Folder | null {
  let folder: Folder | undefined = root;
  for (const part of path.split("/").filter(Boolean)) {
    folder = folder.folders.find((f) => f.name === part);
    if (!folder) return null;
  }
  return folder;
}

/** The folder a file path lies in ("" at the top). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** The breadcrumbs to a folder: the root, then each folder on the way, with their paths. */
export function crumbs(path: string): { name: string; path: string }[] {
  const parts = path.split("/").filter(Boolean);
  return [{ name: "", path: "" }, ...parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join("/") }))];
}

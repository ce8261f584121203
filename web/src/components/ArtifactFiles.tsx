// The files of an artifact version: its manifest browsed a folder at a time (folders from the
// `/` in its paths), a file previewed beside the list (text, images), downloaded, or, for a
// reference entry, its URI shown (nothing was copied, so there is nothing here to download).
// The folder and the file are in the URL (`dir`, `file`), so a link opens the same view.

import { useMemo, useState } from "react";
import { artifactFileUrl, getManifest, type ArtifactRef } from "../api/artifacts";
import { formatBytes, formatInt } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { setQuery, useQuery } from "../lib/router";
import { baseName, buildTree, crumbs, findFolder, parentOf, type Folder, type ManifestEntry } from "../lib/tree";
import { Empty, ErrorBanner, Spinner } from "./common";
import { FilePreviewBody } from "./Preview";

/** Rows drawn at once: a folder of 100,000 files shows its first ones and says to filter. */
const ROWS_MAX = 1000;

export function ArtifactFiles({ version }: { version: ArtifactRef }) {
  const manifest = useAsync((signal) => getManifest(version, signal), [version.entity, version.project, version.name, version.ref]);
  const root = useMemo(() => (manifest.data ? buildTree(manifest.data.entries) : null), [manifest.data]);
  const query = useQuery();
  const [q, setQ] = useState("");
  if (manifest.error) return <ErrorBanner error={manifest.error} onRetry={manifest.reload} />;
  if (!root || !manifest.data) return <Spinner label="Loading the manifest…" />;
  if (!root.count) {
    return (
      <Empty title="No files">
        <p>
          This version holds no file. <code>artifact.add_file("model.pt")</code>, <code>artifact.add_dir("data/")</code> or <code>artifact.add_reference("s3://bucket/path")</code> before <code>run.log_artifact(artifact)</code> give a version its content.
        </p>
      </Empty>
    );
  }
  const filePath = query.get("file");
  const entry = filePath ? (manifest.data.entries.find((e) => e.path === filePath) ?? null) : null;
  const dir = query.get("dir") ?? (entry ? parentOf(entry.path) : "");
  const folder = findFolder(root, dir) ?? root;
  const open = (e: ManifestEntry) => setQuery({ file: e.path, dir: parentOf(e.path) || null });
  const go = (f: { path: string }) => setQuery({ dir: f.path || null, file: null });

  const ql = q.trim().toLowerCase();
  const found = ql ? manifest.data.entries.filter((e) => e.path.toLowerCase().includes(ql)) : null;

  return (
    <div className="files">
      <div>
        <input placeholder={`filter ${formatInt(root.count)} files`} value={q} onChange={(e) => setQ(e.target.value)} style={{ width: "100%", marginBottom: 6 }} aria-label="filter files" />
        {!found && <Breadcrumbs folder={folder} go={go} />}
        <div className="tree" role="listbox" aria-label="files">
          {found ? (
            <>
              {found.slice(0, ROWS_MAX).map((e) => (
                <FileRow key={e.path} entry={e} label={e.path} active={e.path === filePath} open={open} />
              ))}
              {!found.length && <div className="muted">no path holds “{q.trim()}”</div>}
            </>
          ) : (
            <>
              {folder.path && (
                <div role="option" aria-selected={false} tabIndex={0} onClick={() => go({ path: parentOf(folder.path) })} onKeyDown={(e) => e.key === "Enter" && go({ path: parentOf(folder.path) })} title="the folder above">
                  <span className="muted">..</span>
                </div>
              )}
              {folder.folders.slice(0, ROWS_MAX).map((f) => (
                <div key={f.path} role="option" aria-selected={false} tabIndex={0} className="folder" onClick={() => go(f)} onKeyDown={(e) => e.key === "Enter" && go(f)} title={`${f.path}/`} aria-label={`folder ${f.name}`}>
                  <span>{f.name}/</span>
                  <span className="size">
                    {formatInt(f.count)} · {formatBytes(f.size)}
                  </span>
                </div>
              ))}
              {folder.files.slice(0, Math.max(0, ROWS_MAX - folder.folders.length)).map((e) => (
                <FileRow key={e.path} entry={e} label={baseName(e.path)} active={e.path === filePath} open={open} />
              ))}
            </>
          )}
        </div>
        <RowsLeft shown={found ? Math.min(found.length, ROWS_MAX) : Math.min(folder.folders.length + folder.files.length, ROWS_MAX)} total={found ? found.length : folder.folders.length + folder.files.length} />
      </div>
      <div>{entry ? <EntryPreview version={version} entry={entry} /> : <FolderSummary folder={folder} total={root} />}</div>
    </div>
  );
}

function RowsLeft({ shown, total }: { shown: number; total: number }) {
  if (shown >= total) return null;
  return (
    <p className="muted small">
      {formatInt(shown)} of {formatInt(total)} shown: filter to find the others.
    </p>
  );
}

function Breadcrumbs({ folder, go }: { folder: Folder; go: (f: { path: string }) => void }) {
  const parts = crumbs(folder.path);
  return (
    <div className="row small path-crumbs" aria-label="folder">
      {parts.map((c, i) => (
        <span key={c.path} className="row" style={{ gap: 4 }}>
          {i > 0 && <span className="muted">/</span>}
          {i === parts.length - 1 ? (
            <b>{c.name || "all files"}</b>
          ) : (
            <a
              href="#"
              onClick={(e) => {
                e.preventDefault();
                go(c);
              }}
            >
              {c.name || "all files"}
            </a>
          )}
        </span>
      ))}
    </div>
  );
}

function FileRow({ entry, label, active, open }: { entry: ManifestEntry; label: string; active: boolean; open: (e: ManifestEntry) => void }) {
  return (
    <div role="option" tabIndex={0} aria-selected={active} className={active ? "active" : ""} onClick={() => open(entry)} onKeyDown={(e) => e.key === "Enter" && open(entry)} title={entry.ref ? `${entry.path} → ${entry.ref}` : entry.path}>
      <span>
        {label}
        {entry.ref && <span className="tag" style={{ marginLeft: 6 }}>ref</span>}
      </span>
      <span className="size">{formatBytes(entry.size)}</span>
    </div>
  );
}

function FolderSummary({ folder, total }: { folder: Folder; total: Folder }) {
  return (
    <p className="muted">
      {folder.path ? (
        <>
          <span className="mono">{folder.path}/</span> holds {formatInt(folder.count)} files ({formatBytes(folder.size)}).
        </>
      ) : (
        <>
          {formatInt(total.count)} files, {formatBytes(total.size)} in all.
        </>
      )}{" "}
      Choose a file to preview it.
    </p>
  );
}

function EntryPreview({ version, entry }: { version: ArtifactRef; entry: ManifestEntry }) {
  const url = artifactFileUrl(version, entry.path);
  return (
    <div>
      <div className="row" style={{ marginBottom: 6 }}>
        <b className="mono">{entry.path}</b>
        <span className="muted small">
          {formatBytes(entry.size)} · {entry.ref ? "checksum" : "sha256"} <span className="mono">{entry.digest.slice(0, 16)}</span>
        </span>
        <span className="grow" />
        {!entry.ref && (
          <a className="btn" href={artifactFileUrl(version, entry.path, { download: 1 })} download={baseName(entry.path)}>
            Download
          </a>
        )}
      </div>
      {entry.ref ? (
        <div className="banner">
          <p style={{ margin: "0 0 4px" }}>
            A reference: labbook keeps its URI and checksum, not its bytes.
          </p>
          <code className="ref-uri">{entry.ref}</code>
        </div>
      ) : (
        <FilePreviewBody url={url} path={entry.path} size={entry.size} />
      )}
    </div>
  );
}

// One artifact version: what it is (type, digest, size, metadata, description), its aliases
// (editable), the run that logged it and the runs that used it, its files, and its lineage.

import { useState, type FormEvent } from "react";
import { canWrite, getVersion, linkToRegistry, patchVersion, type ArtifactRef, type VersionDetailOut } from "../api/artifacts";
import { ApiError } from "../api/client";
import { useViewer } from "../App";
import { AliasEditor } from "../components/Aliases";
import { ArtifactFiles } from "../components/ArtifactFiles";
import { Empty, ErrorBanner, Modal, Spinner, StateBadge } from "../components/common";
import { LineageView } from "../components/Lineage";
import { formatBytes, formatDate, formatInt, formatValue } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { flatten } from "../lib/runs";
import { artifactsPath, Link, navigate, projectPath, registryPath, runPath, setQuery, useQuery } from "../lib/router";
import { RunRef } from "./Artifacts";

const TABS = ["overview", "files", "lineage"] as const;
type Tab = (typeof TABS)[number];

export default function ArtifactVersionPage({ entity, project, name, refName }: { entity: string; project: string; name: string; refName: string }) {
  const query = useQuery();
  const tab = (TABS as readonly string[]).includes(query.get("tab") ?? "") ? (query.get("tab") as Tab) : "overview";
  const loaded = useAsync((signal) => getVersion(entity, project, name, refName, signal), [entity, project, name, refName]);
  const [edited, setEdited] = useState<VersionDetailOut | null>(null);
  const v = edited && loaded.data && edited.digest === loaded.data.digest ? edited : loaded.data;

  if (loaded.error) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404) {
      return (
        <div className="page">
          <Empty title="No such version">
            <p>
              {name}:{refName} is not in {entity}/{project} (or you cannot see it): {loaded.error.message}. <Link to={artifactsPath(entity, project, name)}>See the versions of {name}</Link> or <Link to={artifactsPath(entity, project)}>all artifacts</Link>.
            </p>
          </Empty>
        </div>
      );
    }
    return (
      <div className="page">
        <ErrorBanner error={loaded.error} onRetry={loaded.reload} />
      </div>
    );
  }
  if (!v) return <div className="page"><Spinner /></div>;
  // Files and lineage by the version's number: an alias may move while the page is open.
  const ref: ArtifactRef = { entity, project, name, ref: v.version };

  return (
    <div className="page wide">
      <Header v={v} refName={refName} onChange={(next) => setEdited({ ...v, ...next })} />
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setQuery({ tab: t === "overview" ? null : t, dir: null, file: null }, { push: true })}>
            {t[0].toUpperCase() + t.slice(1)}
            {t === "files" ? <span className="muted small">{formatInt(v.file_count)}</span> : null}
          </button>
        ))}
      </div>
      {tab === "overview" && <Overview v={v} />}
      {tab === "files" && <ArtifactFiles version={ref} />}
      {tab === "lineage" && <LineageView root={{ kind: "artifact", ...ref }} />}
    </div>
  );
}

function Header({ v, refName, onChange }: { v: VersionDetailOut; refName: string; onChange: (next: Partial<VersionDetailOut>) => void }) {
  const { viewer } = useViewer();
  const [linking, setLinking] = useState(false);
  const editable = canWrite(viewer, v.entity);
  const saveAliases = async (aliases: string[]) => {
    const out = await patchVersion({ entity: v.entity, project: v.project, name: v.name, ref: v.version }, { aliases });
    onChange(out);
    // the page was opened by an alias this change took away: its number names it from now on
    if (refName !== v.version && refName !== "latest" && !out.aliases.includes(refName)) {
      navigate(artifactsPath(v.entity, v.project, v.name, v.version) + window.location.search, { replace: true });
    }
  };
  return (
    <div style={{ marginBottom: 10 }}>
      <div className="row">
        <h1 style={{ margin: 0 }}>
          {v.name}
          <span className="muted">:{v.version}</span>
        </h1>
        <span className="tag">{v.type}</span>
        <AliasEditor aliases={v.aliases} editable={editable} onSave={saveAliases} label={`aliases of ${v.name}:${v.version}`} />
        <span className="grow" />
        <Link className="btn" to={artifactsPath(v.entity, v.project, v.name)}>
          All versions
        </Link>
        {viewer && v.type === "model" && <button onClick={() => setLinking(true)}>Link to registry…</button>}
      </div>
      <div className="row small muted" style={{ marginTop: 6 }}>
        <span>created {formatDate(v.created_at)}</span>
        <span>· {formatBytes(v.size)}</span>
        <span>
          · {formatInt(v.file_count)} file{v.file_count === 1 ? "" : "s"}
        </span>
        <span className="row" style={{ gap: 4 }}>
          · logged by <RunRef run={v.logged_by} />
        </span>
      </div>
      {linking && <LinkDialog v={v} onClose={() => setLinking(false)} />}
    </div>
  );
}

function Overview({ v }: { v: VersionDetailOut }) {
  const meta = flatten(v.metadata ?? {});
  return (
    <div className="cols2">
      <div>
        <h3>Version</h3>
        <div className="meta-grid">
          <span>Artifact</span>
          <span>
            <Link to={artifactsPath(v.entity, v.project, v.name)}>{v.name}</Link> in <Link to={projectPath(v.entity, v.project)}>{v.project}</Link>
          </span>
          <span>Type</span>
          <span>{v.type}</span>
          <span>Version</span>
          <span className="mono">{v.version}</span>
          <span>Digest</span>
          <code style={{ wordBreak: "break-all" }} title="SHA-256 of the manifest: the same files under the same names are the same version">
            {v.digest}
          </code>
          <span>Size</span>
          <span>
            {formatBytes(v.size)} in {formatInt(v.file_count)} file{v.file_count === 1 ? "" : "s"}
          </span>
          <span>Created</span>
          <span>{formatDate(v.created_at, true)}</span>
          <span>Logged by</span>
          <span>
            <RunRef run={v.logged_by} />
          </span>
          <span>Description</span>
          <span style={{ whiteSpace: "pre-wrap" }}>{v.description || <span className="muted">none</span>}</span>
        </div>
        <h3>Metadata</h3>
        {meta.length ? (
          <table className="plain kv">
            <tbody>
              {meta.map(([k, val]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td>{formatValue(val)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted small">
            No metadata: <code>labbook.Artifact(name, type, metadata={"{"}"rows": 60000{"}"})</code> records some.
          </p>
        )}
      </div>
      <div>
        <h3>Used by</h3>
        {v.used_by.length ? (
          <table className="plain" aria-label="used by">
            <tbody>
              {v.used_by.map((r) => (
                <tr key={`${r.entity}/${r.project}/${r.id}`}>
                  <td>
                    <Link to={runPath(r.entity, r.project, r.id)}>{r.name || r.id}</Link>
                    {(r.entity !== v.entity || r.project !== v.project) && (
                      <span className="muted small">
                        {" "}
                        in {r.entity}/{r.project}
                      </span>
                    )}
                  </td>
                  <td className="mono muted">{r.id}</td>
                  <td>
                    <StateBadge state={r.state} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted small">No run used this version yet.</p>
        )}
        <h3>Use it</h3>
        <pre className="preview">{`artifact = run.use_artifact("${v.entity}/${v.project}/${v.name}:${v.version}")
path = artifact.download()`}</pre>
      </div>
    </div>
  );
}

function LinkDialog({ v, onClose }: { v: VersionDetailOut; onClose: () => void }) {
  const { viewer } = useViewer();
  const entities = (viewer?.entities ?? []).filter((e) => viewer?.admin || e.role !== "viewer").map((e) => e.name);
  const [entity, setEntity] = useState(entities.includes(v.entity) ? v.entity : (entities[0] ?? v.entity));
  const [model, setModel] = useState(v.name);
  const [aliases, setAliases] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const list = aliases
        .split(",")
        .map((a) => a.trim())
        .filter(Boolean);
      await linkToRegistry(entity, model.trim(), { entity: v.entity, project: v.project, name: v.name, ref: v.version }, list);
      navigate(registryPath(entity, model.trim()));
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    }
  };
  return (
    <Modal title="Link to the model registry" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} className="form-grid">
        <p className="muted small" style={{ gridColumn: "1 / -1", margin: 0 }}>
          The registered model gets a version of its own pointing at {v.name}:{v.version}; it is created when missing.
        </p>
        <label htmlFor="reg-entity">Entity</label>
        <select id="reg-entity" value={entity} onChange={(e) => setEntity(e.target.value)}>
          {[...new Set([...entities, entity])].map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <label htmlFor="reg-model">Model</label>
        <input id="reg-model" value={model} onChange={(e) => setModel(e.target.value)} required pattern="[A-Za-z0-9_.\-]{1,128}" />
        <label htmlFor="reg-aliases">Aliases</label>
        <input id="reg-aliases" value={aliases} onChange={(e) => setAliases(e.target.value)} placeholder="staging, production" />
        {err && (
          <span className="error small" role="alert" style={{ gridColumn: "1 / -1" }}>
            {err}
          </span>
        )}
        <div className="actions" style={{ gridColumn: "1 / -1" }}>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Link
          </button>
        </div>
      </form>
    </Modal>
  );
}

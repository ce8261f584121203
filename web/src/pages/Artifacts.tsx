// A project's artifacts: its collections grouped by type (datasets, models, ...), and one
// collection's versions. The version page is ArtifactVersion.tsx.

import { useMemo, useState } from "react";
import { getCollection, listArtifacts, type CollectionOut, type RunLink, type VersionOut } from "../api/artifacts";
import { ApiError } from "../api/client";
import { AliasChips } from "../components/Aliases";
import { Empty, ErrorBanner, Spinner, StateBadge } from "../components/common";
import { formatAgo, formatBytes, formatDate, formatInt } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { artifactsPath, Link, projectPath, runPath, setQuery, useQuery } from "../lib/router";

/** The snippet that logs a first artifact into `project` (the empty states show it). */
export function LogArtifactSnippet({ project }: { project: string }) {
  return (
    <>
      <pre>{`import labbook

run = labbook.init(project="${project}", job_type="prepare")
artifact = labbook.Artifact("mnist", type="dataset")
artifact.add_dir("data/")           # or add_file("train.csv"), add_reference("s3://bucket/mnist/")
run.log_artifact(artifact)          # a new version only when the content changed
labbook.finish()`}</pre>
      <p className="muted small">
        A later run that calls <code>run.use_artifact("mnist:latest")</code> is recorded as its consumer: the lineage graph links them.
      </p>
    </>
  );
}

export function RunRef({ run }: { run: RunLink | null }) {
  if (!run) return <span className="muted">—</span>;
  return (
    <span className="row" style={{ gap: 6, flexWrap: "nowrap" }}>
      <Link to={runPath(run.entity, run.project, run.id)}>{run.name || run.id}</Link>
      <StateBadge state={run.state} />
    </span>
  );
}

function NotFound({ what, entity, project }: { what: string; entity: string; project: string }) {
  return (
    <div className="page">
      <Empty title={`No ${what}`}>
        <p>
          It is not in {entity}/{project}, or you cannot see it. <Link to={artifactsPath(entity, project)}>See the project's artifacts</Link> or <Link to={projectPath(entity, project)}>its runs</Link>.
        </p>
      </Empty>
    </div>
  );
}

export function ArtifactsPage({ entity, project }: { entity: string; project: string }) {
  const list = useAsync((signal) => listArtifacts(entity, project, signal), [entity, project]);
  const query = useQuery();
  const typeFilter = query.get("type");
  const [q, setQ] = useState("");
  const groups = useMemo(() => {
    const by = new Map<string, CollectionOut[]>();
    const ql = q.trim().toLowerCase();
    for (const c of list.data ?? []) {
      if (typeFilter && c.type !== typeFilter) continue;
      if (ql && !c.name.toLowerCase().includes(ql)) continue;
      by.set(c.type, [...(by.get(c.type) ?? []), c]);
    }
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [list.data, typeFilter, q]);
  const types = useMemo(() => [...new Set((list.data ?? []).map((c) => c.type))].sort(), [list.data]);

  if (list.error instanceof ApiError && list.error.status === 404) {
    return (
      <div className="page">
        <Empty title="No such project">
          <p>
            {entity}/{project} does not exist, or you cannot see it. <Link to="/">See the projects</Link>.
          </p>
        </Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <div className="row" style={{ marginBottom: 12 }}>
        <h1 style={{ margin: 0 }}>Artifacts</h1>
        <span className="muted">
          of <Link to={projectPath(entity, project)}>{project}</Link>
        </span>
        <span className="grow" />
        {types.length > 1 && (
          <span className="chart-toolbar" style={{ padding: 0 }}>
            <span className="seg" role="group" aria-label="artifact type">
              {[null, ...types].map((t) => (
                <button key={t ?? ""} className={typeFilter === t ? "on" : ""} aria-pressed={typeFilter === t} onClick={() => setQuery({ type: t })}>
                  {t ?? "all"}
                </button>
              ))}
            </span>
          </span>
        )}
        {(list.data?.length ?? 0) > 0 && <input placeholder="filter by name" value={q} onChange={(e) => setQ(e.target.value)} aria-label="filter artifacts" style={{ width: 220 }} />}
      </div>
      {list.error && <ErrorBanner error={list.error} onRetry={list.reload} />}
      {!list.data && !list.error && <Spinner label="Loading artifacts…" />}
      {list.data && list.data.length === 0 && (
        <Empty title={`${project} has no artifacts yet`}>
          <p>An artifact is a versioned set of files (a dataset, a model, predictions) logged by a run:</p>
          <LogArtifactSnippet project={project} />
        </Empty>
      )}
      {list.data && list.data.length > 0 && groups.length === 0 && <p className="muted">No artifact matches.</p>}
      {groups.map(([type, cols]) => (
        <section key={type} aria-label={`${type} artifacts`}>
          <h2>
            {type} <span className="muted small">({cols.length})</span>
          </h2>
          <table className="plain artifacts">
            <colgroup>
              <col style={{ width: "24%" }} />
              <col style={{ width: "8%" }} />
              <col style={{ width: "20%" }} />
              <col style={{ width: "9%" }} />
              <col style={{ width: "7%" }} />
              <col style={{ width: "20%" }} />
              <col style={{ width: "12%" }} />
            </colgroup>
            <thead>
              <tr>
                <th>Name</th>
                <th className="num">Versions</th>
                <th>Latest</th>
                <th className="num">Size</th>
                <th className="num">Files</th>
                <th>Logged by</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {cols.map((c) => (
                <tr key={c.name}>
                  <td>
                    <Link to={artifactsPath(entity, project, c.name)}>{c.name}</Link>
                    {c.description && <div className="muted small clip">{c.description}</div>}
                  </td>
                  <td className="num">{formatInt(c.version_count)}</td>
                  {c.latest ? (
                    <>
                      <td>
                        <span className="row" style={{ gap: 6 }}>
                          <Link to={artifactsPath(entity, project, c.name, c.latest.version)} className="mono">
                            {c.latest.version}
                          </Link>
                          <AliasChips aliases={c.latest.aliases.filter((a) => a !== "latest")} />
                        </span>
                      </td>
                      <td className="num">{formatBytes(c.latest.size)}</td>
                      <td className="num">{formatInt(c.latest.file_count)}</td>
                      <td>
                        <RunRef run={c.latest.logged_by} />
                      </td>
                    </>
                  ) : (
                    <td colSpan={4} className="muted">
                      no version
                    </td>
                  )}
                  <td title={formatDate(c.updated_at, true)}>{formatAgo(c.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}

export function CollectionPage({ entity, project, name }: { entity: string; project: string; name: string }) {
  const col = useAsync((signal) => getCollection(entity, project, name, signal), [entity, project, name]);
  if (col.error instanceof ApiError && col.error.status === 404) return <NotFound what={`artifact ${name}`} entity={entity} project={project} />;
  if (col.error) {
    return (
      <div className="page">
        <ErrorBanner error={col.error} onRetry={col.reload} />
      </div>
    );
  }
  if (!col.data) return <div className="page"><Spinner /></div>;
  const c = col.data;
  return (
    <div className="page">
      <div className="row" style={{ marginBottom: 6 }}>
        <h1 style={{ margin: 0 }}>{c.name}</h1>
        <span className="tag">{c.type}</span>
        <span className="muted small">
          {formatInt(c.version_count)} version{c.version_count === 1 ? "" : "s"} · updated {formatAgo(c.updated_at)}
        </span>
      </div>
      {c.description && <p>{c.description}</p>}
      <VersionsTable entity={entity} project={project} versions={c.versions} />
      <p className="muted small" style={{ marginTop: 14 }}>
        Use a version in a run with <code>run.use_artifact("{c.name}:latest")</code> (or <code>:v0</code>, or an alias): the run joins its lineage.
      </p>
    </div>
  );
}

function VersionsTable({ entity, project, versions }: { entity: string; project: string; versions: VersionOut[] }) {
  return (
    <table className="plain" aria-label="versions">
      <thead>
        <tr>
          <th>Version</th>
          <th>Aliases</th>
          <th className="num">Size</th>
          <th className="num">Files</th>
          <th>Created</th>
          <th>Logged by</th>
          <th>Digest</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((v) => (
          <tr key={v.version}>
            <td>
              <Link to={artifactsPath(entity, project, v.name, v.version)} className="mono">
                {v.version}
              </Link>
              {v.description && <div className="muted small clip">{v.description}</div>}
            </td>
            <td>
              <AliasChips aliases={v.aliases} />
            </td>
            <td className="num">{formatBytes(v.size)}</td>
            <td className="num">{formatInt(v.file_count)}</td>
            <td title={formatDate(v.created_at, true)}>{formatDate(v.created_at)}</td>
            <td>
              <RunRef run={v.logged_by} />
            </td>
            <td className="mono muted" title={v.digest}>
              {v.digest.slice(0, 12)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export default function ArtifactsRoute(props: { entity: string; project: string; name?: string }) {
  return props.name === undefined ? <ArtifactsPage entity={props.entity} project={props.project} /> : <CollectionPage entity={props.entity} project={props.project} name={props.name} />;
}

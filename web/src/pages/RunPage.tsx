// One run: overview (config, summary, metadata, git), charts, system metrics, logs, files, the
// panels of what it logged (tables, images, histograms, plots), its artifacts and lineage.

import { useMemo, useState } from "react";
import { ApiError, call, fileUrl, fillPath, send, type FileOut, type MetricOut, type RunOut } from "../api/client";
import { ChartToolbar } from "../components/ChartToolbar";
import { Charts, type RunMeta } from "../components/Charts";
import { Empty, ErrorBanner, Modal, Spinner, StateBadge } from "../components/common";
import { FilesTab, LogsTab } from "../components/Files";
import { LineageView } from "../components/Lineage";
import { MediaTab } from "../components/Media";
import { RunArtifactsTab } from "../components/RunArtifacts";
import { mediaKind } from "../lib/media";
import { runColors } from "../lib/colors";
import { flatten, runtimeOf } from "../lib/runs";
import { formatDate, formatDuration, formatValue } from "../lib/format";
import { useAsync, useInterval, useTheme } from "../lib/hooks";
import { Link, navigate, parseZoom, projectPath, runPath, setQuery, setZoomParam, useQuery } from "../lib/router";
import { parseXAxis } from "../lib/series";

const TABS = ["overview", "charts", "system", "logs", "files", "media", "artifacts", "lineage"] as const;
type Tab = (typeof TABS)[number];

export default function RunPage({ entity, project, run }: { entity: string; project: string; run: string }) {
  const query = useQuery();
  const tab = (TABS as readonly string[]).includes(query.get("tab") ?? "") ? (query.get("tab") as Tab) : "overview";
  const [info, setInfo] = useState<{ run: RunOut; etag: string | null } | null>(null);
  const url = fillPath("/api/v1/projects/{entity}/{project}/runs/{run}", { entity, project, run });
  const first = useAsync(
    async (signal) => {
      const r = await send<RunOut>("get", url, { signal });
      setInfo({ run: r.data!, etag: r.etag });
      return r.data!;
    },
    [url],
  );
  const metrics = useAsync((signal) => call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/metrics", { path: { entity, project, run }, signal }), [entity, project, run]);
  const files = useAsync((signal) => call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/files", { path: { entity, project, run }, signal }), [entity, project, run]);
  const r = info?.run;
  const running = r?.state === "running";

  // Live: conditional polling while the run runs (304 costs nothing).
  useInterval(
    () => {
      send<RunOut>("get", url, { etag: info?.etag })
        .then((res) => {
          if (res.data) setInfo({ run: res.data, etag: res.etag });
          metrics.reload();
          if (tab === "logs" || tab === "files") files.reload();
        })
        .catch(() => {});
    },
    3000,
    running,
  );

  if (first.error) {
    if (first.error instanceof ApiError && first.error.status === 404) {
      return (
        <div className="page">
          <Empty title="No such run">
            <p>
              Run <code>{run}</code> is not in {entity}/{project} (or you cannot see it). <Link to={projectPath(entity, project)}>Back to the project</Link>.
            </p>
          </Empty>
        </div>
      );
    }
    return (
      <div className="page">
        <ErrorBanner error={first.error} onRetry={first.reload} />
      </div>
    );
  }
  if (!r) return <div className="page"><Spinner /></div>;

  return (
    <div className="page wide">
      <RunHeader run={r} onChange={(run) => setInfo({ run, etag: null })} />
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setQuery({ tab: t === "overview" ? null : t }, { push: true })}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === "overview" && <Overview run={r} files={files.data} />}
      {(tab === "charts" || tab === "system") && <RunCharts run={r} metrics={metrics.data} system={tab === "system"} />}
      {tab === "logs" && <LogsTab entity={entity} project={project} run={run} files={files.data} live={running} />}
      {tab === "files" && <FilesTab entity={entity} project={project} run={run} files={files.data} error={files.error} />}
      {tab === "media" && <MediaTab entity={entity} project={project} run={run} metrics={metrics.data} />}
      {tab === "artifacts" && <RunArtifactsTab entity={entity} project={project} run={run} />}
      {tab === "lineage" && <LineageView root={{ kind: "run", entity, project, run }} />}
    </div>
  );
}

function RunHeader({ run, onChange }: { run: RunOut; onChange: (r: RunOut) => void }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(run.name ?? "");
  const [confirm, setConfirm] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const path = { entity: run.entity, project: run.project, run: run.id };
  const save = async () => {
    setEditing(false);
    if (name === (run.name ?? "")) return;
    try {
      onChange(await call("patch", "/api/v1/projects/{entity}/{project}/runs/{run}", { path, body: { name } }));
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  const del = async () => {
    try {
      await call("delete", "/api/v1/projects/{entity}/{project}/runs/{run}", { path });
      navigate(projectPath(run.entity, run.project));
    } catch (e) {
      setConfirm(false);
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  const color = runColors([run.id]).get(run.id);
  return (
    <div style={{ marginBottom: 10 }}>
      <div className="row">
        <span className="swatch" style={{ background: color, width: 14, height: 14 }} />
        {editing ? (
          <input
            autoFocus
            value={name}
            onChange={(e) => setName(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") void save();
              if (e.key === "Escape") setEditing(false);
            }}
            onBlur={() => void save()}
            aria-label="run name"
            style={{ fontSize: 18, height: 32, width: 360 }}
          />
        ) : (
          <h1 style={{ margin: 0, cursor: "text" }} onDoubleClick={() => setEditing(true)} title="double-click to rename">
            {run.name || run.id}
          </h1>
        )}
        <StateBadge state={run.state} />
        <span className="mono muted">{run.id}</span>
        <span className="grow" />
        <button onClick={() => setEditing(true)}>Rename</button>
        <button onClick={() => navigate(`${projectPath(run.entity, run.project)}?sel=${encodeURIComponent(run.id)}`)}>Show in workspace</button>
        <button className="danger" onClick={() => setConfirm(true)}>
          Delete
        </button>
      </div>
      <div className="row small muted" style={{ marginTop: 6 }}>
        <span>created {formatDate(run.created_at)}</span>
        <span>· runtime {formatDuration(runtimeOf(run)) || "—"}</span>
        {run.exit_code !== null && <span>· exit code {run.exit_code}</span>}
        {run.tags.map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
      </div>
      {err && <div className="error small">{err}</div>}
      {confirm && (
        <Modal title="Delete this run?" onClose={() => setConfirm(false)}>
          <p>
            {run.name || run.id} and its history, metrics and file records will be deleted. This cannot be undone.
          </p>
          <div className="actions">
            <button onClick={() => setConfirm(false)} data-autofocus>
              Cancel
            </button>
            <button className="danger solid" onClick={() => void del()}>
              Delete
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}

function KV({ rows, empty }: { rows: [string, unknown][]; empty: string }) {
  if (!rows.length) return <p className="muted small">{empty}</p>;
  return (
    <table className="plain kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <td>{k}</td>
            <td>{formatValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Overview({ run, files }: { run: RunOut; files: FileOut[] | undefined }) {
  const meta = run.metadata as Record<string, unknown>;
  const git = (meta.git ?? null) as { commit?: string; branch?: string; remote?: string; dirty?: boolean } | null;
  const hasDiff = files?.some((f) => f.path === "diff.patch");
  const [showDiff, setShowDiff] = useState(false);
  const diff = useAsync(
    async (signal) => {
      if (!showDiff) return null;
      const res = await fetch(fileUrl(run.entity, run.project, run.id, "diff.patch"), { signal, credentials: "same-origin" });
      return res.ok ? await res.text() : `could not read diff.patch: ${res.status}`;
    },
    [showDiff],
  );
  const rows: [string, React.ReactNode][] = [
    ["State", <StateBadge key="s" state={run.state} />],
    ["Created", formatDate(run.created_at, true)],
    ["Started", formatDate(run.started_at, true) || "—"],
    ["Finished", formatDate(run.finished_at, true) || "—"],
    ["Duration", formatDuration(runtimeOf(run)) || "—"],
    ["Exit code", run.exit_code ?? "—"],
    ["Host", String(meta.host ?? "—")],
    ["OS", String(meta.os ?? "—")],
    ["Python", String(meta.python ?? "—")],
    ["User", String(meta.user ?? "—")],
    ["Command", meta.command ? <code key="c">{String(meta.command)}</code> : "—"],
    ["Working dir", meta.cwd ? <code key="w">{String(meta.cwd)}</code> : "—"],
  ];
  if (run.group) rows.push(["Group", run.group]);
  if (run.job_type) rows.push(["Job type", run.job_type]);
  if (run.notes) rows.push(["Notes", run.notes]);
  const config = flatten(run.config);
  const summary = flatten(run.summary).filter(([k]) => !k.startsWith("_"));
  return (
    <div className="cols2">
      <div>
        <h3>Run</h3>
        <div className="meta-grid">
          {rows.map(([k, v]) => (
            <FragmentRow key={k} k={k} v={v} />
          ))}
        </div>
        <h3>Git</h3>
        {git ? (
          <div className="meta-grid">
            <span>Commit</span>
            <code>
              {git.commit}
              {git.dirty ? " (with local changes)" : ""}
            </code>
            <span>Branch</span>
            <span>{git.branch ?? "—"}</span>
            <span>Remote</span>
            <span>{git.remote ?? "—"}</span>
            {hasDiff && (
              <>
                <span>Diff</span>
                <span>
                  <button onClick={() => setShowDiff((s) => !s)}>{showDiff ? "Hide" : "Show"} diff.patch</button>{" "}
                  <a href={fileUrl(run.entity, run.project, run.id, "diff.patch")} download>
                    download
                  </a>
                </span>
              </>
            )}
          </div>
        ) : (
          <p className="muted small">Not started from a git repository (or git capture was off).</p>
        )}
        {showDiff && (
          <pre className="preview diff" style={{ marginTop: 8 }}>
            {(diff.data ?? "…").split("\n").map((line, i) => (
              <div key={i} className={line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") ? "file" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : ""}>
                {line || " "}
              </div>
            ))}
          </pre>
        )}
        <h3>Config</h3>
        <KV rows={config} empty="No config: labbook.init(config={...}) records hyper-parameters." />
      </div>
      <div>
        <h3>Summary</h3>
        <KV rows={summary} empty="No summary yet: it holds the last value of each logged metric." />
      </div>
    </div>
  );
}

function FragmentRow({ k, v }: { k: string; v: React.ReactNode }) {
  return (
    <>
      <span>{k}</span>
      <span style={{ wordBreak: "break-word" }}>{v}</span>
    </>
  );
}

function RunCharts({ run, metrics, system }: { run: RunOut; metrics: MetricOut[] | undefined; system: boolean }) {
  const query = useQuery();
  const [theme] = useTheme();
  const keys = useMemo(
    () =>
      (metrics ?? [])
        .filter((m) => !m.key.startsWith("_") && m.dtype !== "object" && m.dtype !== "str" && !mediaKind(m.last))
        .map((m) => m.key)
        .filter((k) => (system ? k.startsWith("system/") : !k.startsWith("system/")))
        .sort(),
    [metrics, system],
  );
  const meta = useMemo(() => new Map<string, RunMeta>([[run.id, { name: run.name || run.id, state: run.state }]]), [run.id, run.name, run.state]);
  const spec = useMemo(() => ({ ids: [run.id] }), [run.id]);
  const zoom = useMemo(() => parseZoom(query.get("zoom")), [query]);
  const setZoom = setZoomParam;
  if (!metrics) return <Spinner />;
  if (!keys.length) {
    return system ? (
      <Empty title="No system metrics">
        <p>
          labbook samples CPU, memory and GPU every <code>LABBOOK_SYSTEM_INTERVAL</code> seconds while a run runs (on by default; <code>LABBOOK_SYSTEM_METRICS=false</code> turns it off).
        </p>
      </Empty>
    ) : (
      <Empty title="No metrics">
        <p>
          This run logged no numeric metric. <code>labbook.log({"{"}"loss": 0.5{"}"})</code> adds one.
        </p>
      </Empty>
    );
  }
  const smoothing = Math.min(Math.max(Number(query.get("smooth") ?? 0) || 0, 0), 0.99);
  return (
    <div>
      <ChartToolbar defaultX={system ? "rt" : "step"} xMetrics={(metrics ?? []).filter((m) => /epoch|step/i.test(m.key) && m.dtype !== "object").map((m) => m.key)}>
        <span className="grow" />
        <Link to={runPath(run.entity, run.project, run.id) + "?tab=media"}>logged media →</Link>
      </ChartToolbar>
      <Charts
        entity={run.entity}
        project={run.project}
        metricKeys={keys}
        spec={spec}
        meta={meta}
        order={[run.id]}
        grouped={false}
        smoothing={smoothing}
        xAxis={parseXAxis(query.get("x") ?? (system ? "rt" : null))}
        logY={query.get("log") === "1"}
        zoom={zoom}
        setZoom={setZoom}
        theme={theme}
        search=""
      />
    </div>
  );
}

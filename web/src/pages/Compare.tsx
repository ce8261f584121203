// Compare runs side by side: config and summary with the differences highlighted, and their
// curves overlaid (the workspace's chart panels on just these runs).

import { useMemo, useState } from "react";
import { call, send, fillPath, type MetricOut, type RunOut } from "../api/client";
import { ChartToolbar } from "../components/ChartToolbar";
import { Charts, type RunMeta } from "../components/Charts";
import { Empty, ErrorBanner, Modal, Spinner, StateBadge } from "../components/common";
import { mediaKind } from "../lib/media";
import { runColors } from "../lib/colors";
import { formatValue } from "../lib/format";
import { useAsync, useTheme } from "../lib/hooks";
import { comparePath, Link, navigate, parseZoom, projectPath, runPath, setZoomParam, useQuery } from "../lib/router";
import { parseXAxis } from "../lib/series";
import { diffRows, type DiffRow } from "../lib/runs";

export default function ComparePage({ entity, project }: { entity: string; project: string }) {
  const query = useQuery();
  const ids = useMemo(() => (query.get("runs") ?? "").split(",").filter(Boolean), [query]);
  const [onlyDiff, setOnlyDiff] = useState(query.get("all") !== "1");
  const [theme] = useTheme();
  const [toDelete, setToDelete] = useState<RunOut | null>(null);
  const [error, setError] = useState<string | null>(null);
  const runs = useAsync(
    (signal) =>
      Promise.all(
        ids.map(async (id) => {
          const r = await send<RunOut>("get", fillPath("/api/v1/projects/{entity}/{project}/runs/{run}", { entity, project, run: id }), { signal });
          const m = await call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/metrics", { path: { entity, project, run: id }, signal });
          return { run: r.data!, metrics: m as MetricOut[] };
        }),
      ),
    [entity, project, ids.join(",")],
  );
  const colors = useMemo(() => runColors(ids), [ids]);
  const meta = useMemo(() => new Map<string, RunMeta>((runs.data ?? []).map(({ run }) => [run.id, { name: run.name || run.id, state: run.state }])), [runs.data]);
  const metricKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const { metrics } of runs.data ?? []) for (const m of metrics) if (!m.key.startsWith("_") && m.dtype !== "object" && m.dtype !== "str" && !mediaKind(m.last)) keys.add(m.key);
    return [...keys].sort();
  }, [runs.data]);
  const spec = useMemo(() => ({ ids }), [ids]);

  if (!ids.length) {
    return (
      <div className="page">
        <Empty title="Nothing to compare">
          <p>
            Select runs in the <Link to={projectPath(entity, project)}>workspace</Link> (click their boxes) and press Compare, or <span className="kbd">c</span>.
          </p>
        </Empty>
      </div>
    );
  }
  if (runs.error) return <div className="page"><ErrorBanner error={runs.error} onRetry={runs.reload} /></div>;
  if (!runs.data) return <div className="page"><Spinner /></div>;
  const list = runs.data.map((d) => d.run);
  const config = diffRows(list.map((r) => r.config));
  const summary = diffRows(list.map((r) => Object.fromEntries(Object.entries(r.summary).filter(([k, v]) => !k.startsWith("_") && !mediaKind(v)))));

  const del = async (r: RunOut) => {
    setToDelete(null);
    try {
      await call("delete", "/api/v1/projects/{entity}/{project}/runs/{run}", { path: { entity, project, run: r.id } });
      navigate(comparePath(entity, project, ids.filter((x) => x !== r.id)), { replace: true });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const table = (title: string, rows: DiffRow[]) => {
    const shown = onlyDiff ? rows.filter((r) => r.differs) : rows;
    return (
      <>
        <h2>
          {title} <span className="muted small">({rows.filter((r) => r.differs).length} of {rows.length} differ)</span>
        </h2>
        {shown.length === 0 ? (
          <p className="muted small">{rows.length ? "All the same." : "None."}</p>
        ) : (
          <div style={{ overflow: "auto" }}>
            <table className="plain">
              <thead>
                <tr>
                  <th style={{ minWidth: 180 }}>key</th>
                  {list.map((r) => (
                    <th key={r.id}>
                      <span className="row" style={{ flexWrap: "nowrap" }}>
                        <span className="swatch" style={{ background: colors.get(r.id) }} />
                        {r.name || r.id}
                      </span>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {shown.map((row) => (
                  <tr key={row.key} className={row.differs ? "differs" : ""}>
                    <td className="mono">{row.key}</td>
                    {row.values.map((v, i) => (
                      <td key={i} className="mono" style={{ wordBreak: "break-word" }}>
                        {v === undefined ? <span className="muted">—</span> : formatValue(v)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </>
    );
  };

  return (
    <div className="page wide">
      <div className="row">
        <h1 style={{ margin: 0 }}>Compare {list.length} runs</h1>
        <span className="grow" />
        <label>
          <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> only differences
        </label>
      </div>
      {error && <div className="error">{error}</div>}
      <div className="row" style={{ margin: "10px 0" }}>
        {list.map((r) => (
          <span key={r.id} className="card row" style={{ padding: "4px 8px" }}>
            <span className="swatch" style={{ background: colors.get(r.id) }} />
            <Link to={runPath(entity, project, r.id)}>{r.name || r.id}</Link>
            <StateBadge state={r.state} />
            <button className="ghost" title="remove from the comparison" onClick={() => navigate(comparePath(entity, project, ids.filter((x) => x !== r.id)), { replace: true })}>
              ×
            </button>
            <button className="ghost error" title="delete this run" onClick={() => setToDelete(r)}>
              delete
            </button>
          </span>
        ))}
      </div>
      <div className="cols2">
        <div>{table("Config", config)}</div>
        <div>{table("Summary", summary)}</div>
      </div>
      <h2>Curves</h2>
      {metricKeys.length ? (
        <>
        <ChartToolbar xMetrics={metricKeys.filter((k) => /epoch|step/i.test(k))} />
        <Charts
          entity={entity}
          project={project}
          metricKeys={metricKeys}
          spec={spec}
          meta={meta}
          order={ids}
          grouped={false}
          smoothing={Math.min(Math.max(Number(query.get("smooth") ?? 0) || 0, 0), 0.99)}
          xAxis={parseXAxis(query.get("x"))}
          logY={query.get("log") === "1"}
          zoom={parseZoom(query.get("zoom"))}
          setZoom={setZoomParam}
          theme={theme}
          search=""
        />
        </>
      ) : (
        <p className="muted">These runs logged no numeric metrics.</p>
      )}
      {toDelete && (
        <Modal title="Delete this run?" onClose={() => setToDelete(null)}>
          <p>{toDelete.name || toDelete.id} and its history, metrics and file records will be deleted. This cannot be undone.</p>
          <div className="actions">
            <button onClick={() => setToDelete(null)} data-autofocus>
              Cancel
            </button>
            <button className="danger solid" onClick={() => void del(toDelete)}>
              Delete
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}

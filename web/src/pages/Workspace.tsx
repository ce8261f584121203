// The project workspace: the runs table beside the chart panels. Everything a user sets here
// (filter, sort, columns, selection, grouping, smoothing, x-axis, zoom) lives in the URL.

import { lazy, Suspense, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { ApiError, call } from "../api/client";
import { deleteRuns, getColumns, getKeys, type ColumnsOut, type ProjectKeys } from "../api/dashboard";
import { ChartToolbar } from "../components/ChartToolbar";
import { Charts, ShowingNote, type RunMeta, type RunsSpec } from "../components/Charts";
import { ColumnPicker } from "../components/ColumnPicker";
import { Empty, ErrorBanner, GetStarted, Modal, Spinner } from "../components/common";
import { FilterBar } from "../components/FilterBar";
import { RunsTable } from "../components/RunsTable";
import { runColors } from "../lib/colors";
import { BASE_FIELDS, colsParam, COUNTERS, defaultColumns, parseCols } from "../lib/columns";
import { parseFilter } from "../lib/filter";
import { formatInt } from "../lib/format";
import { useAsync, useInterval, useShortcuts, useTheme } from "../lib/hooks";
import { artifactsPath, comparePath, Link, navigate, parseZoom, runPath, setQuery, setZoomParam, useQuery } from "../lib/router";
import { parseXAxis } from "../lib/series";

const Analysis = lazy(() => import("../components/Analysis"));

const LIMIT = 10000;
const POLL_MS = 3000;
let tableReadyMarked = false;

/** Projects of at most this many runs chart beside the table's request, not after it. */
const PARALLEL_MAX = 2000;

function totalCacheKey(entity: string, project: string): string {
  return `labbook-runs:${entity}/${project}`;
}

function keysCacheKey(entity: string, project: string): string {
  return `labbook-keys:${entity}/${project}`;
}

/**
 * The project's keys: the last known ones at once (from this browser), then the server's. With
 * known ones, the server is asked after `defer` clears (the table first: on a busy server the
 * keys of 10,000 runs cost more than the table itself).
 */
function useProjectKeys(entity: string, project: string, defer: boolean) {
  const cached = useMemo(() => {
    try {
      const s = localStorage.getItem(keysCacheKey(entity, project));
      return s ? (JSON.parse(s) as ProjectKeys) : undefined;
    } catch {
      return undefined;
    }
  }, [entity, project]);
  const hold = defer && cached !== undefined;
  const fresh = useAsync((signal) => (hold ? new Promise<ProjectKeys>(() => {}) : getKeys(entity, project, signal)), [entity, project, hold]);
  useEffect(() => {
    if (fresh.data) {
      try {
        localStorage.setItem(keysCacheKey(entity, project), JSON.stringify(fresh.data));
      } catch {
        /* storage full or off: the cache is only a head start */
      }
    }
  }, [fresh.data, entity, project]);
  return { keys: fresh.data ?? cached, loaded: fresh.data !== undefined, error: fresh.error, reload: fresh.reload };
}

export function WorkspacePage({ entity, project }: { entity: string; project: string }) {
  const query = useQuery();
  const [theme] = useTheme();
  const filterText = query.get("q") ?? "";
  const sort = query.get("sort") ?? "-created_at";
  const colsUrl = parseCols(query.get("cols"));
  const selected = useMemo(() => (query.get("sel") ?? "").split(",").filter(Boolean), [query]);
  const smoothing = clamp(Number(query.get("smooth") ?? 0), 0, 0.99);
  const xAxis = parseXAxis(query.get("x"));
  const logY = query.get("log") === "1";
  const zoom = parseZoom(query.get("zoom"));
  const groupBy = query.get("group");
  // grouped, the bands summarise every run (up to 1,000), not only the first 20
  const nCharted = clamp(Math.round(Number(query.get("n") ?? (groupBy ? 1000 : 20))) || 20, 1, 1000);
  const view = query.get("view") ?? "split";
  const tab = query.get("tab") ?? "charts";
  const panelSearch = query.get("panels") ?? "";

  const [tableSeen, setTableSeen] = useState(false);
  const { keys, loaded: keysLoaded, error: keysError } = useProjectKeys(entity, project, !tableSeen);
  const known = useMemo(
    () => ({
      config: keys?.config.map((k) => k.key) ?? [],
      summary: keys?.summary.map((k) => k.key) ?? [],
      metrics: keys?.metrics.map((k) => k.key) ?? [],
      metricStats: keys?.metrics.flatMap((k) => ["min", "max", "last"].map((s) => `metrics.${k.key}.${s}`)) ?? [],
    }),
    [keys],
  );
  const parsed = useMemo(() => parseFilter(filterText, known), [filterText, known]);
  // A bare key (lr) resolves against the keys: wait for them before reading such a filter.
  const filterReady = parsed.ok || keysLoaded;
  const filters = parsed.ok ? parsed.filter : null;

  const extra = colsUrl ?? defaultColumns(keys);
  const fields = useMemo(() => [...BASE_FIELDS, ...extra.filter((f) => !(BASE_FIELDS as readonly string[]).includes(f))], [extra.join("\u0000")]); // eslint-disable-line react-hooks/exhaustive-deps
  const select = useMemo(() => (groupBy && !fields.includes(groupBy) ? [...fields, groupBy] : fields), [fields, groupBy]);
  // Without known keys (a first visit), the table comes with its base columns at once and
  // again with the default ones (config that varies, main metrics) when the keys arrive.

  // ------------------------------------------------------------------------------ the table
  const [table, setTable] = useState<{ data: ColumnsOut; etag: string | null; sig: string; rows: string } | null>(null);
  const [tableError, setTableError] = useState<Error | null>(null);
  const [loadingTable, setLoadingTable] = useState(true);
  const rowsSig = JSON.stringify([filters, sort]); // which runs, in which order
  const sig = JSON.stringify([select, rowsSig]);
  const fetchTable = useCallback(
    async (conditional: boolean, signal?: AbortSignal) => {
      const r = await getColumns(entity, project, { select, filters, order: sort, limit: LIMIT }, { etag: conditional ? table?.etag : null, signal });
      if (r.status === 304 || !r.data) return;
      setTable({ data: r.data, etag: r.etag, sig, rows: rowsSig });
      setTableError(null);
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [entity, project, sig, table?.etag],
  );
  useEffect(() => {
    if (!filterReady || (!parsed.ok && filterText)) {
      if (!parsed.ok) setLoadingTable(false);
      return;
    }
    const ctl = new AbortController();
    setLoadingTable(true);
    fetchTable(false, ctl.signal)
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setTableError(e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoadingTable(false);
      });
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [entity, project, sig, filterReady]);

  const data = table?.data;
  useEffect(() => {
    // Known keys are refreshed once the page has settled (the table's and the charts' requests
    // first), unless the table waits for them (a bare key in the filter).
    if (!parsed.ok || tableError) {
      setTableSeen(true);
      return;
    }
    if (!data) return;
    const t = window.setTimeout(() => setTableSeen(true), 1500);
    return () => window.clearTimeout(t);
  }, [data, tableError, parsed.ok]);
  useLayoutEffect(() => {
    if (data && data.ids.length && !tableReadyMarked) {
      tableReadyMarked = true;
      // after the browser has painted the rows
      requestAnimationFrame(() => performance.mark("lb:table-ready"));
    }
  }, [data]);

  const anyRunning = useMemo(() => (data?.columns.state ?? []).some((s) => s === "running"), [data]);
  useInterval(() => void fetchTable(true).catch(() => {}), POLL_MS, anyRunning);

  // ------------------------------------------------------------------------------ selection
  const setSelected = useCallback((ids: string[]) => setQuery({ sel: ids.join(",") || null }), []);
  const idsInTable = useMemo(() => new Set(data?.ids ?? []), [data]);
  const charted = useMemo(() => (selected.length ? selected : (data?.ids.slice(0, nCharted) ?? [])), [selected, data, nCharted]);
  const colors = useMemo(() => runColors(charted), [charted]);
  const meta = useMemo(() => {
    const m = new Map<string, RunMeta>();
    if (!data) return m;
    const names = data.columns.name ?? [];
    const states = data.columns.state ?? [];
    const groups = groupBy ? data.columns[groupBy] : undefined;
    data.ids.forEach((id, i) => {
      const g = groups?.[i];
      m.set(id, { name: (names[i] as string) || id, state: String(states[i] ?? ""), group: groupBy ? (g === null || g === undefined ? "∅" : typeof g === "object" ? JSON.stringify(g) : String(g)) : null });
    });
    return m;
  }, [data, groupBy]);
  // The charts draw the table's first N runs (or the selection). In a project this browser saw
  // small, they ask by the table's own query at once, beside the table; in a large one they wait
  // for the table (on a shared server its one request goes first) and ask by explicit ids (up to
  // 100 runs; beyond that by the query). When the first N change later (a run started), again.
  const [parallel] = useState(() => Number(localStorage.getItem(totalCacheKey(entity, project)) ?? Infinity) <= PARALLEL_MAX);
  const tableCurrent = !!data && table?.rows === rowsSig;
  const firstIds = tableCurrent ? data.ids.slice(0, nCharted).join(",") : "";
  const seenIds = useRef<string | null>(null);
  const [chartGen, setChartGen] = useState(0);
  useEffect(() => {
    seenIds.current = null;
  }, [rowsSig, nCharted]);
  useEffect(() => {
    if (!firstIds || !parallel) return;
    if (seenIds.current !== null && seenIds.current !== firstIds) setChartGen((g) => g + 1);
    seenIds.current = firstIds;
  }, [firstIds, parallel]);
  useEffect(() => {
    if (tableCurrent) localStorage.setItem(totalCacheKey(entity, project), String(data.total));
  }, [tableCurrent, data, entity, project]);
  const byQuery = parallel || nCharted > 100;
  const spec: RunsSpec = useMemo(
    () =>
      selected.length
        ? { ids: selected }
        : byQuery
          ? { filters, order: sort, limit: nCharted, generation: chartGen }
          : { ids: firstIds ? firstIds.split(",") : [] },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [selected.join(","), byQuery, byQuery ? chartGen : firstIds, JSON.stringify(filters), sort, nCharted],
  );
  const chartsWaiting = !selected.length && !parallel && !tableCurrent;
  const [runsTotal, setRunsTotal] = useState<number | null>(null);

  const xMetricKey = typeof xAxis === "object" ? xAxis.metric : null;
  const metricKeys = useMemo(() => {
    if (!keys) return [];
    const numeric = new Map(keys.summary.map((s) => [s.key, s.types]));
    return keys.metrics
      .map((m) => m.key)
      .filter((k) => !k.startsWith("_"))
      .filter((k) => {
        const t = numeric.get(k);
        return !t || t.includes("number");
      })
      .sort();
  }, [keys]);
  const panelKeys = useMemo(() => metricKeys.filter((k) => k !== xMetricKey), [metricKeys, xMetricKey]);
  const stepMetrics = useMemo(() => metricKeys.filter((k) => COUNTERS.has(k.toLowerCase()) || /epoch/i.test(k)), [metricKeys]);

  // --------------------------------------------------------------------------------- actions
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const filterInput = useRef<HTMLInputElement>(null);

  const onSort = useCallback(
    (f: string) => {
      const next = sort === f ? `-${f}` : sort === `-${f}` ? (f === "created_at" ? f : null) : f.startsWith("config.") || f === "name" ? f : `-${f}`;
      setQuery({ sort: next === "-created_at" ? null : next });
    },
    [sort],
  );
  const toggleColumn = useCallback(
    (f: string) => {
      const next = extra.includes(f) ? extra.filter((x) => x !== f) : [...extra, f];
      setQuery({ cols: colsParam(next) });
    },
    [extra],
  );
  const removeColumn = useCallback((f: string) => setQuery({ cols: colsParam(extra.filter((x) => x !== f)) }), [extra]);
  const onRename = useCallback(
    async (id: string, name: string) => {
      try {
        await call("patch", "/api/v1/projects/{entity}/{project}/runs/{run}", { path: { entity, project, run: id }, body: { name } });
        setTable((t) => {
          if (!t) return t;
          const i = t.data.ids.indexOf(id);
          if (i < 0) return t;
          const names = [...(t.data.columns.name ?? [])];
          names[i] = name;
          return { ...t, etag: null, data: { ...t.data, columns: { ...t.data.columns, name: names } } };
        });
      } catch (e) {
        setNotice(`Rename failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    [entity, project],
  );
  const doDelete = async () => {
    setConfirmDelete(false);
    try {
      const out = await deleteRuns(entity, project, selected);
      setNotice(`Deleted ${out.deleted.length} run${out.deleted.length === 1 ? "" : "s"}${out.missing.length ? ` (${out.missing.length} were already gone)` : ""}.`);
      setSelected([]);
      await fetchTable(false);
    } catch (e) {
      setNotice(`Delete failed: ${e instanceof ApiError ? e.message : String(e)}`);
    }
  };

  useShortcuts(
    {
      "/": () => filterInput.current?.focus(),
      Escape: () => selected.length && setSelected([]),
      c: () => selected.length >= 1 && navigate(comparePath(entity, project, selected)),
      Delete: () => selected.length && setConfirmDelete(true),
    },
    [selected, entity, project],
  );

  // ---------------------------------------------------------------------------------- render
  const total = data?.total ?? null;
  const empty = data && data.total === 0 && !filterText;
  if (keysError && keysError instanceof ApiError && keysError.status === 404) {
    return (
      <div className="page">
        <Empty title={`No project ${entity}/${project}`}>
          <p>It does not exist, or you cannot see it. Log a run to create it:</p>
          <GetStarted project={project} />
        </Empty>
      </div>
    );
  }
  if (empty) {
    return (
      <div className="page">
        <Empty title={`${project} has no runs yet`}>
          <GetStarted project={project} />
        </Empty>
      </div>
    );
  }
  const tableWidth = view === "table" ? "100%" : view === "charts" ? "0" : "min(46%, 760px)";
  const sel = selected.filter((id) => idsInTable.has(id) || !data);

  return (
    <div className="ws">
      <div className="ws-bar">
        <FilterBar value={filterText} onApply={(t) => setQuery({ q: t || null, zoom: null })} keys={known} serverError={tableError?.message} inputRef={filterInput} />
        <div style={{ position: "relative" }}>
          <button onClick={() => setPicker((p) => !p)} aria-expanded={picker}>
            Columns
          </button>
          {picker && <ColumnPicker keys={keys} shown={fields} onToggle={toggleColumn} onReset={() => setQuery({ cols: null })} onClose={() => setPicker(false)} />}
        </div>
        <label>
          Group
          <select value={groupBy ?? ""} onChange={(e) => setQuery({ group: e.target.value || null })} aria-label="group runs by">
            <option value="">none</option>
            {(keys?.config ?? []).map((k) => (
              <option key={k.key} value={`config.${k.key}`}>
                {k.key}
              </option>
            ))}
            <option value="state">state</option>
            <option value="user">user</option>
          </select>
        </label>
        <button disabled={sel.length < 1} onClick={() => navigate(comparePath(entity, project, sel))} title="compare the selected runs (c)">
          Compare{sel.length ? ` ${sel.length}` : ""}
        </button>
        <button className="danger" disabled={sel.length < 1} onClick={() => setConfirmDelete(true)} title="delete the selected runs (Delete)">
          Delete{sel.length ? ` ${sel.length}` : ""}
        </button>
        <Link className="btn" to={artifactsPath(entity, project)} title="the project's datasets, models and other artifacts">
          Artifacts
        </Link>
        <div className="chart-toolbar" style={{ padding: 0 }}>
          <span className="seg" role="group" aria-label="layout">
            {(["table", "split", "charts"] as const).map((v) => (
              <button key={v} className={view === v ? "on" : ""} onClick={() => setQuery({ view: v === "split" ? null : v })}>
                {v}
              </button>
            ))}
          </span>
        </div>
      </div>
      {notice && (
        <div className="banner row" role="status" style={{ margin: "6px 12px" }}>
          <span className="grow">{notice}</span>
          <button className="ghost" onClick={() => setNotice(null)} aria-label="dismiss">
            ×
          </button>
        </div>
      )}
      {data?.warnings?.length ? (
        <div className="banner warn small" style={{ margin: "6px 12px" }}>
          {data.warnings.join(" · ")}
        </div>
      ) : null}
      <div className="ws-body">
        <section className="ws-table" style={{ width: tableWidth, display: view === "charts" ? "none" : "flex" }} aria-label="runs table">
          {tableError && !data ? (
            <div style={{ padding: 12 }}>
              <ErrorBanner error={tableError} onRetry={() => void fetchTable(false).catch((e: unknown) => setTableError(e as Error))} />
            </div>
          ) : !data || table?.sig === undefined ? (
            <div style={{ padding: 12 }}>{!parsed.ok ? <span className="muted">Fix the filter to see runs.</span> : <Spinner label="Loading runs…" />}</div>
          ) : (
            <RunsTable
              entity={entity}
              project={project}
              data={data}
              fields={fields}
              sort={sort}
              onSort={onSort}
              selected={selected}
              onSelect={setSelected}
              colors={colors}
              groupBy={groupBy}
              onRename={onRename}
              onRemoveColumn={removeColumn}
              onOpen={(id) => navigate(runPath(entity, project, id))}
            />
          )}
          <div className="tablefoot">
            {total !== null && (
              <span>
                {formatInt(total)} run{total === 1 ? "" : "s"}
                {total > (data?.ids.length ?? 0) ? ` (first ${formatInt(data?.ids.length ?? 0)} shown)` : ""}
              </span>
            )}
            {sel.length > 0 && (
              <span>
                · {sel.length} selected{" "}
                <button className="ghost" style={{ height: 22 }} onClick={() => setSelected([])}>
                  clear
                </button>
              </span>
            )}
            {anyRunning && <span className="badge running">live</span>}
            {loadingTable && data && <span className="spin" aria-label="updating" />}
            <span className="grow" />
            <span>
              <span className="kbd">?</span> keys
            </span>
          </div>
        </section>
        {view !== "table" && (
          <section className="ws-charts" aria-label="charts">
            <div className="tabs" style={{ marginBottom: 6 }}>
              {(["charts", "parallel", "importance"] as const).map((t) => (
                <button key={t} className={tab === t ? "active" : ""} onClick={() => setQuery({ tab: t === "charts" ? null : t })}>
                  {t === "charts" ? "Charts" : t === "parallel" ? "Parallel coordinates" : "Parameter importance"}
                </button>
              ))}
            </div>
            {tab === "charts" ? (
              <>
                <ChartToolbar xMetrics={stepMetrics}>
                  <input placeholder="search panels" value={panelSearch} onChange={(e) => setQuery({ panels: e.target.value || null })} style={{ width: 140 }} aria-label="search panels" />
                  <span className="grow" />
                  <ShowingNote
                    shown={selected.length ? selected.length : Math.min(nCharted, runsTotal ?? total ?? nCharted)}
                    total={runsTotal ?? total}
                    selected={selected.length > 0}
                    onShowAll={() => setQuery({ n: "1000" })}
                    onClear={() => setSelected([])}
                  />
                </ChartToolbar>
                {!keys ? (
                  <Spinner />
                ) : metricKeys.length === 0 ? (
                  <Empty title="No metrics logged yet">
                    <p>
                      Charts appear here for every key a run logs with <code>labbook.log({"{"}"loss": 0.5{"}"})</code>.
                    </p>
                  </Empty>
                ) : filterReady && (parsed.ok || !filterText) ? (
                  <Charts
                    entity={entity}
                    project={project}
                    metricKeys={panelKeys}
                    spec={spec}
                    meta={meta}
                    order={data?.ids ?? []}
                    grouped={!!groupBy}
                    smoothing={smoothing}
                    xAxis={xAxis}
                    logY={logY}
                    zoom={zoom}
                    setZoom={setZoomParam}
                    theme={theme}
                    onRunsTotal={setRunsTotal}
                    search={panelSearch}
                    waiting={chartsWaiting}
                  />
                ) : null}
              </>
            ) : (
              <Suspense fallback={<Spinner />}>
                <Analysis
                  entity={entity}
                  project={project}
                  kind={tab === "parallel" ? "parallel" : "importance"}
                  keys={keys}
                  filters={filters}
                  data={data}
                  colors={colors}
                  metric={query.get("metric")}
                  setMetric={(m) => setQuery({ metric: m })}
                />
              </Suspense>
            )}
          </section>
        )}
      </div>
      {confirmDelete && (
        <Modal title={`Delete ${sel.length} run${sel.length === 1 ? "" : "s"}?`} onClose={() => setConfirmDelete(false)}>
          <p>
            This deletes {sel.length === 1 ? "the run" : "the runs"} with {sel.length === 1 ? "its" : "their"} history, metrics and file records. It cannot be undone.
          </p>
          <ul className="small" style={{ maxHeight: 160, overflow: "auto" }}>
            {sel.slice(0, 50).map((id) => (
              <li key={id}>
                {meta.get(id)?.name ?? id} <span className="muted mono">{id}</span>
              </li>
            ))}
            {sel.length > 50 && <li>… and {sel.length - 50} more</li>}
          </ul>
          <div className="actions">
            <button onClick={() => setConfirmDelete(false)} data-autofocus>
              Cancel
            </button>
            <button className="danger solid" onClick={() => void doDelete()}>
              Delete
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(Math.max(v, lo), hi) : lo;
}

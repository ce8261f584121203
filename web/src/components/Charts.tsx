// The workspace's chart panels: one per metric key, in sections by prefix (train/, val/, ...,
// system/ last). Envelopes are fetched for the panels on screen only, several keys per request;
// a zoom on the step axis refetches the visible range at full fidelity; running runs append the
// steps after the last one seen.

import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { getEnvelopes, type EnvelopeSeries } from "../api/dashboard";
import { runColors, withAlpha } from "../lib/colors";
import { formatInt } from "../lib/format";
import { useInterval, useWidth } from "../lib/hooks";
import { ema } from "../lib/smoothing";
import {
  align,
  appendEnvelope,
  bucketsFor,
  envelopePoints,
  groupBand,
  remapX,
  sectionOf,
  type Points,
  type XAxis,
} from "../lib/series";
import { LineChart, type ChartModel, type SeriesSpec, type TooltipLine, type XKind } from "./LineChart";

export interface RunMeta {
  name: string;
  state: string;
  group?: string | null;
}

/** Which runs the charts draw: explicit ids (a selection, or the first N rows), else by query. */
export interface RunsSpec {
  ids?: string[];
  filters?: object | null;
  order?: string | null;
  limit?: number;
  /** bumped to ask again for the same query (its first N runs changed) */
  generation?: number;
}

export interface ChartsProps {
  entity: string;
  project: string;
  metricKeys: string[];
  spec: RunsSpec;
  /** runs the table knows (names, states, groups), by id */
  meta: Map<string, RunMeta>;
  /** the order runs appear in the table (colours follow it) */
  order: string[];
  grouped: boolean;
  smoothing: number;
  xAxis: XAxis;
  logY: boolean;
  zoom: [number, number] | null;
  setZoom: (z: [number, number] | null) => void;
  theme: string;
  onRunsTotal?: (n: number) => void;
  /** the wanted panels and sections (prefix filter) */
  search: string;
  /** hold the requests (the workspace lets its table's request go first) */
  waiting?: boolean;
}

type Cache = Map<string, { sig: string; runs: Map<string, EnvelopeSeries> }>; // key → run → series

const BATCH = 6;
const IDS_PER_REQUEST = 100;

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
const POLL_MS = 3000;

function sectionName(s: string): string {
  return s === "" ? "Charts" : s;
}

function sectionRank(s: string): number {
  if (s === "") return 0;
  if (s === "train") return 1;
  if (s === "val" || s === "valid" || s === "validation") return 2;
  if (s === "test" || s === "eval") return 3;
  if (s === "system") return 9;
  return 5;
}

let chartsDrawnMarked = false;

export function Charts(props: ChartsProps) {
  const { entity, project, spec, xAxis, zoom } = props;
  const [width, setWidth] = useState(0);
  const xMetric = typeof xAxis === "object" ? xAxis.metric : null;
  const nRuns = spec.ids ? spec.ids.length : (spec.limit ?? 20);
  // one bucket per pixel of a panel's plot area (min and max keep every spike at that width);
  // panels are at least 300 px wide, several to a row (.panels in styles.css)
  const cols = Math.max(1, Math.floor(((width || 600) + 10) / 310));
  const plotWidth = ((width || 600) - 10 * (cols - 1)) / cols - 70;
  const buckets = bucketsFor(nRuns, Math.max(200, Math.round(plotWidth / 50) * 50));
  const stepRange = xAxis === "step" && zoom ? ([Math.floor(zoom[0]), Math.ceil(zoom[1])] as const) : null;
  const sig = JSON.stringify([entity, project, spec, buckets, stepRange]);

  // key → its envelopes, tagged with the view they were fetched for: a key whose view changed
  // (zoom, runs, buckets) keeps showing its old lines until the new ones arrive (no flicker).
  const cache = useRef<Cache>(new Map());
  const pending = useRef<Map<string, string>>(new Map()); // key → sig being fetched
  const failed = useRef<Map<string, { sig: string; message: string }>>(new Map());
  const [version, setVersion] = useState(0);
  const [visible, setVisible] = useState<Set<string>>(() => new Set());
  const drawn = useRef<{ sig: string; keys: Set<string> }>({ sig, keys: new Set() });
  if (drawn.current.sig !== sig) drawn.current = { sig, keys: new Set() };

  // One abort per view: a panel scrolling into sight must not cancel its neighbours' requests.
  const aborter = useRef<{ sig: string; ctl: AbortController } | null>(null);
  useEffect(
    () => () => {
      aborter.current?.ctl.abort();
    },
    [sig],
  );

  // Fetch the envelopes of visible panels not yet loaded for this view.
  useEffect(() => {
    if (props.waiting) return;
    const need = (k: string) => cache.current.get(k)?.sig !== sig && pending.current.get(k) !== sig && failed.current.get(k)?.sig !== sig;
    const wanted = [...visible].filter(need);
    if (xMetric && wanted.length && need(xMetric) && !wanted.includes(xMetric)) wanted.push(xMetric);
    if (!wanted.length) return;
    if (spec.ids && !spec.ids.length) {
      // no run to draw (a filter that matches none): nothing to ask
      for (const k of wanted) cache.current.set(k, { sig, runs: new Map() });
      setVersion((v) => v + 1);
      return;
    }
    if (aborter.current?.sig !== sig) aborter.current = { sig, ctl: new AbortController() };
    const ctl = aborter.current.ctl;
    // a few keys to a request; fewer when many runs, so the first panels show sooner
    const batch = Math.max(1, Math.min(BATCH, Math.round(2000 / Math.max(1, nRuns))));
    for (let i = 0; i < wanted.length; i += batch) {
      const keys = wanted.slice(i, i + batch);
      for (const k of keys) pending.current.set(k, sig);
      // explicit ids go 100 to a request: a URL stays far below any server's limit
      const idChunks = spec.ids ? chunks(spec.ids, IDS_PER_REQUEST) : [undefined];
      Promise.all(
        idChunks.map((ids) =>
          getEnvelopes(
            entity,
            project,
            { keys, runs: ids, filters: spec.filters, order: spec.order, limit: spec.limit, buckets, step_min: stepRange?.[0], step_max: stepRange?.[1] },
            { signal: ctl.signal },
          ),
        ),
      )
        .then((parts) => ({ data: { series: parts.flatMap((p) => p.data?.series ?? []), runs_total: parts.reduce((n, p) => n + (p.data?.runs_total ?? 0), 0) } }))
        .then((r) => {
          if (!r.data) return;
          const got = new Map(keys.map((k) => [k, new Map<string, EnvelopeSeries>()]));
          for (const s of r.data.series) got.get(s.key)?.set(s.run, s);
          for (const [k, m] of got) cache.current.set(k, { sig, runs: m });
          props.onRunsTotal?.(r.data.runs_total);
        })
        .catch((e: unknown) => {
          if (ctl.signal.aborted) return;
          for (const k of keys) failed.current.set(k, { sig, message: e instanceof Error ? e.message : String(e) });
        })
        .finally(() => {
          for (const k of keys) if (pending.current.get(k) === sig) pending.current.delete(k);
          setVersion((v) => v + 1);
        });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sig, visible, xMetric, props.waiting]);

  // Live: running runs append their new steps (only the steps after the last one seen).
  const running = useMemo(() => {
    const ids = spec.ids ?? props.order.slice(0, spec.limit ?? 20);
    return ids.filter((id) => props.meta.get(id)?.state === "running");
  }, [spec, props.order, props.meta]);
  const polling = useRef(false);
  const liveEtags = useRef(new Map<string, { from: number; keys: string; etag: string | null }>());
  const poll = (ids: string[]) => {
    if (polling.current || !ids.length) return;
    const c = cache.current;
    const keys = [...c.keys()].filter((k) => c.get(k)?.sig === sig);
    if (!keys.length) return;
    polling.current = true;
    Promise.all(
      ids.map(async (id) => {
        let last = -1;
        for (const k of keys) {
          const s = c.get(k)?.runs.get(id);
          if (s && s.count.length) last = Math.max(last, lastStep(s));
        }
        // the same question as last time (nothing new arrived since) → If-None-Match, 304
        const prev = liveEtags.current.get(id);
        const etag = prev && prev.from === last + 1 && prev.keys === keys.join(",") ? prev.etag : null;
        const r = await getEnvelopes(entity, project, { keys, runs: [id], buckets, step_min: last + 1 }, { etag });
        liveEtags.current.set(id, { from: last + 1, keys: keys.join(","), etag: r.etag });
        if (!r.data) return;
        for (const s of r.data.series) {
          const m = c.get(s.key)?.runs;
          if (!m) continue;
          const old = m.get(s.run);
          m.set(s.run, old ? appendEnvelope(old, s) : s);
        }
      }),
    )
      .then(() => setVersion((v) => v + 1))
      .catch(() => {})
      .finally(() => {
        polling.current = false;
      });
  };
  useInterval(() => poll(running), POLL_MS, running.length > 0 && !stepRange);
  // A run that just finished: one last look for the steps it logged since the last poll.
  const wasRunning = useRef<string[]>([]);
  useEffect(() => {
    const done = wasRunning.current.filter((id) => !running.includes(id));
    wasRunning.current = running;
    if (done.length && !stepRange) window.setTimeout(() => poll(done), 300);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [running]);

  const onVisible = useCallback((key: string, isVisible: boolean) => {
    setVisible((old) => {
      if (old.has(key) === isVisible) return old;
      const next = new Set(old);
      if (isVisible) next.add(key);
      else next.delete(key);
      return next;
    });
  }, []);

  const onDrawn = useCallback(
    (key: string) => {
      drawn.current.keys.add(key);
      const all = [...visible].every((k) => drawn.current.keys.has(k));
      if (all && visible.size && !chartsDrawnMarked) {
        chartsDrawnMarked = true;
        performance.mark("lb:charts-drawn");
      }
    },
    [visible],
  );

  // sections
  const q = props.search.trim().toLowerCase();
  const sections = useMemo(() => {
    const by = new Map<string, string[]>();
    for (const k of props.metricKeys) {
      if (q && !k.toLowerCase().includes(q)) continue;
      const s = sectionOf(k);
      if (!by.has(s)) by.set(s, []);
      by.get(s)!.push(k);
    }
    return [...by.entries()].sort((a, b) => sectionRank(a[0]) - sectionRank(b[0]) || a[0].localeCompare(b[0]));
  }, [props.metricKeys, q]);

  const colors = useMemo(() => runColors(spec.ids ?? props.order.slice(0, spec.limit ?? 20)), [spec, props.order]);
  const groupColors = useMemo(() => {
    if (!props.grouped) return new Map<string, string>();
    const names = new Set<string>();
    for (const id of spec.ids ?? props.order.slice(0, spec.limit ?? 20)) names.add(props.meta.get(id)?.group ?? "∅");
    const sorted = [...names].sort();
    const byKey = runColors(sorted.map((g) => `group:${g}`));
    return new Map(sorted.map((g) => [g, byKey.get(`group:${g}`)!]));
  }, [props.grouped, spec, props.order, props.meta]);
  const [measure, measured] = useWidth<HTMLDivElement>();
  useEffect(() => setWidth(measured), [measured]);

  const c = cache.current;
  const current = (k: string) => c.get(k)?.runs;
  return (
    <div ref={measure}>
      {props.grouped && groupColors.size > 0 && (
        <div className="row small" style={{ marginBottom: 6 }} aria-label="groups">
          {[...groupColors].map(([g, col]) => (
            <span key={g} className="row" style={{ gap: 4 }}>
              <span className="swatch" style={{ background: col }} />
              {g}
            </span>
          ))}
          <span className="muted">· line = mean, band = min … max</span>
        </div>
      )}
      {sections.map(([section, keys]) => (
        <details key={section} className="section" open={section !== "system" || sections.length === 1}>
          <summary>
            {sectionName(section)} <span className="muted">({keys.length})</span>
          </summary>
          <div className="panels">
            {keys.map((k) => (
              <Panel
                key={k}
                metric={k}
                data={current(k)}
                xData={xMetric ? current(xMetric) : undefined}
                error={failed.current.get(k)?.sig === sig ? failed.current.get(k)?.message : undefined}
                loading={pending.current.has(k)}
                version={version}
                xAxis={xAxis}
                smoothing={props.smoothing}
                logY={props.logY}
                zoom={zoom}
                setZoom={props.setZoom}
                theme={props.theme}
                colors={colors}
                groupColors={groupColors}
                meta={props.meta}
                grouped={props.grouped}
                syncKey={`${entity}/${project}`}
                onVisible={onVisible}
                onDrawn={onDrawn}
              />
            ))}
          </div>
        </details>
      ))}
    </div>
  );
}

function lastStep(s: EnvelopeSeries): number {
  let m = -1;
  for (let i = 0; i < s.count.length; i++) if (s.count[i] > 0 && s.last_step[i] > m) m = s.last_step[i];
  return m;
}

interface PanelProps {
  metric: string;
  data: Map<string, EnvelopeSeries> | undefined;
  xData: Map<string, EnvelopeSeries> | undefined;
  error?: string;
  loading: boolean;
  version: number;
  xAxis: XAxis;
  smoothing: number;
  logY: boolean;
  zoom: [number, number] | null;
  setZoom: (z: [number, number] | null) => void;
  theme: string;
  colors: Map<string, string>;
  groupColors: Map<string, string>;
  meta: Map<string, RunMeta>;
  grouped: boolean;
  syncKey: string;
  onVisible: (key: string, v: boolean) => void;
  onDrawn: (key: string) => void;
}

const Panel = memo(function Panel(p: PanelProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [plotRef, width] = useWidth<HTMLDivElement>();
  const { metric, onVisible } = p;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const io = new IntersectionObserver((entries) => onVisible(metric, entries[0].isIntersecting), { rootMargin: "150px" });
    io.observe(el);
    return () => {
      io.disconnect();
      onVisible(metric, false);
    };
  }, [metric, onVisible]);

  const model = useMemo(
    () => (p.data ? buildModel(p) : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [p.data, p.xData, p.version, p.xAxis, p.smoothing, p.colors, p.groupColors, p.meta, p.grouped],
  );
  const xKind: XKind = typeof p.xAxis === "object" ? "metric" : p.xAxis;
  const xLabel = typeof p.xAxis === "object" ? p.xAxis.metric : p.xAxis === "rt" ? "time" : p.xAxis === "wall" ? "" : "step";
  const empty = model && model.data.x.length === 0;
  const { onDrawn } = p;
  const drawnCb = useCallback(() => onDrawn(metric), [onDrawn, metric]);
  useEffect(() => {
    if (p.error || empty) drawnCb();
  }, [p.error, empty, drawnCb]);

  return (
    <div
      className="panel"
      ref={ref}
      data-metric={metric}
      // what the panel draws, for the browser tests (tests/web): lines (runs, or groups), the
      // number of x values and the first and last x
      data-lines={model ? model.tooltip.length : undefined}
      data-points={model ? model.data.x.length : undefined}
      data-first-x={model && model.data.x.length ? model.data.x[0] : undefined}
      data-last-x={model && model.data.x.length ? model.data.x[model.data.x.length - 1] : undefined}
    >
      <div className="title" title={metric}>
        {metric}
        {p.loading && <span className="spin" aria-label="loading" />}
      </div>
      <div className="plot" ref={plotRef}>
        {p.error ? (
          <div className="note error">{p.error}</div>
        ) : !model ? (
          <div className="note">{p.loading ? "" : " "}</div>
        ) : empty ? (
          <div className="note">no values for these runs{p.zoom ? " in this range" : ""}</div>
        ) : (
          width > 0 && (
            <LineChart
              model={model}
              width={width}
              height={200}
              xKind={xKind}
              xLabel={xLabel}
              logY={p.logY}
              zoom={p.zoom}
              onZoom={p.setZoom}
              syncKey={p.syncKey}
              theme={p.theme}
              onDrawn={drawnCb}
            />
          )
        )}
      </div>
    </div>
  );
});

function pointsOf(s: EnvelopeSeries, xAxis: XAxis, xSeries: EnvelopeSeries | undefined): Points | null {
  if (typeof xAxis === "object") {
    if (!xSeries) return null;
    return remapX(envelopePoints(s, "step"), envelopePoints(xSeries, "step"));
  }
  return envelopePoints(s, xAxis);
}

function smooth(p: Points, w: number): Points {
  return w > 0 ? { ...p, ys: ema(p.ys, w) } : p;
}

/** Lines (or group bands) of one panel, from its envelopes. */
function buildModel(p: PanelProps): ChartModel {
  const runs = [...(p.data?.keys() ?? [])];
  // in table order (colours and tooltips follow the table)
  runs.sort((a, b) => (p.colors.has(a) ? 0 : 1) - (p.colors.has(b) ? 0 : 1));
  const raw: { id: string; pts: Points }[] = [];
  for (const id of runs) {
    const s = p.data!.get(id)!;
    const pts = pointsOf(s, p.xAxis, p.xData?.get(id));
    if (pts && pts.xs.length) raw.push({ id, pts });
  }
  const label = (id: string) => p.meta.get(id)?.name || id;
  const color = (id: string) => p.colors.get(id) ?? "#888888";

  if (p.grouped) {
    const groups = new Map<string, { id: string; pts: Points }[]>();
    for (const r of raw) {
      const g = p.meta.get(r.id)?.group ?? "∅";
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(r);
    }
    const lines = [...groups.values()].flatMap((g) => g.map((r) => smooth(r.pts, p.smoothing)));
    const base = align(lines);
    const series: SeriesSpec[] = [];
    const ys: (number | null | undefined)[][] = [];
    const bands: { upper: number; lower: number; fill: string }[] = [];
    const tooltip: TooltipLine[] = [];
    for (const [name, members] of groups) {
      const col = p.groupColors.get(name) ?? "#888888";
      const band = groupBand(base.x, members.map((r) => smooth(r.pts, p.smoothing)));
      const hi = ys.length;
      ys.push(band.max);
      series.push({ label: `${name} max`, color: col, hidden: true });
      ys.push(band.min);
      series.push({ label: `${name} min`, color: col, hidden: true });
      bands.push({ upper: hi, lower: hi + 1, fill: withAlpha(col, 0.16) });
      ys.push(band.mean);
      series.push({ label: `${name} (${members.length})`, color: col, width: 2 });
      tooltip.push({ label: `${name} · mean of ${members.length}`, color: col, points: { xs: base.x, ys: band.mean, steps: base.x } });
    }
    return { data: { x: base.x, ys }, series, bands, tooltip };
  }

  const smoothed = raw.map((r) => ({ id: r.id, pts: smooth(r.pts, p.smoothing) }));
  const showRaw = p.smoothing > 0 && raw.length <= 50;
  const lines = showRaw ? [...raw.map((r) => r.pts), ...smoothed.map((r) => r.pts)] : smoothed.map((r) => r.pts);
  const data = align(lines);
  const series: SeriesSpec[] = [
    ...(showRaw ? raw.map((r) => ({ label: `${label(r.id)} (raw)`, color: withAlpha(color(r.id), 0.22), width: 1 })) : []),
    ...smoothed.map((r) => ({ label: label(r.id), color: color(r.id), width: raw.length > 100 ? 1 : 1.5 })),
  ];
  const tooltip = smoothed.map((r) => ({ label: label(r.id), color: color(r.id), points: r.pts }));
  return { data, series, tooltip };
}

/** "showing 20 of 1,000 — show all" */
export function ShowingNote({ shown, total, selected, onShowAll, onClear }: { shown: number; total: number | null; selected: boolean; onShowAll: () => void; onClear: () => void }) {
  if (selected) {
    return (
      <span className="muted">
        showing the {formatInt(shown)} selected run{shown === 1 ? "" : "s"} —{" "}
        <button className="ghost" onClick={onClear}>
          show the first runs instead
        </button>
      </span>
    );
  }
  if (total === null) return null;
  if (shown >= total) return <span className="muted">showing all {formatInt(total)} runs</span>;
  return (
    <span className="muted">
      showing {formatInt(shown)} of {formatInt(total)}
      {shown < Math.min(total, 1000) && (
        <>
          {" "}
          —{" "}
          <button className="ghost" onClick={onShowAll}>
            show {total > 1000 ? "1,000" : "all"}
          </button>
        </>
      )}
    </span>
  );
}

// Panels for what a run logged besides numbers (labbook.sdk.media, labbook.plot): images by step
// with a slider, histograms over steps, tables (paged, sortable) and plot objects (confusion
// matrix heat map, ROC and PR curves, line, scatter, bar).

import { useEffect, useMemo, useRef, useState } from "react";
import { call, fileUrl, type MetricOut } from "../api/client";
import { PALETTE } from "../lib/colors";
import { formatNumber, formatValue, num } from "../lib/format";
import { useAsync, useTheme, useWidth } from "../lib/hooks";
import { LineChart, type ChartModel } from "./LineChart";
import { Empty, ErrorBanner, Spinner } from "./common";
import { align } from "../lib/series";
import { binValues, cell, col, confusionCells, mediaKind, plotLines, refsOf, type MediaKind, type Ref, type TableJson } from "../lib/media";

export function MediaTab({ entity, project, run, metrics }: { entity: string; project: string; run: string; metrics: MetricOut[] | undefined }) {
  const media = useMemo(() => (metrics ?? []).map((m) => ({ key: m.key, kind: mediaKind(m.last), count: m.count })).filter((m): m is { key: string; kind: MediaKind; count: number } => m.kind !== null), [metrics]);
  if (!metrics) return <Spinner />;
  if (!media.length) {
    return (
      <Empty title="No logged media">
        <p>Images, tables, histograms and plots logged with labbook.log show here, for example:</p>
        <pre>{`labbook.log({"samples": [labbook.Image(x, caption="3")],
             "weights": labbook.Histogram(w),
             "cm": labbook.plot.confusion_matrix(y_true=y, preds=p)})`}</pre>
      </Empty>
    );
  }
  const order: Record<MediaKind, number> = { plot: 0, image: 1, table: 2, histogram: 3 };
  return (
    <div style={{ display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(520px, 1fr))", gap: 14 }}>
      {[...media]
        .sort((a, b) => order[a.kind] - order[b.kind] || a.key.localeCompare(b.key))
        .map((m) => (
          <div key={m.key} className="panel" style={{ padding: 12 }}>
            <div className="title" style={{ marginBottom: 8 }}>
              {m.key} <span className="tag">{m.kind}</span>
            </div>
            <MediaPanel entity={entity} project={project} run={run} metric={m.key} kind={m.kind} />
          </div>
        ))}
    </div>
  );
}

/** Every step's value of a media key (references are small: the files hold the data). */
function useSteps(entity: string, project: string, run: string, key: string) {
  return useAsync(async (signal) => {
    const h = await call("get", "/api/v1/projects/{entity}/{project}/runs/{run}/history", { path: { entity, project, run }, query: { keys: key, limit: 10000 }, signal });
    const s = h.keys[key];
    return s ? s.steps.map((st, i) => ({ step: st, value: s.values[i] as unknown })) : [];
  }, [entity, project, run, key]);
}

function MediaPanel({ entity, project, run, metric, kind }: { entity: string; project: string; run: string; metric: string; kind: MediaKind }) {
  const steps = useSteps(entity, project, run, metric);
  const [idx, setIdx] = useState<number | null>(null);
  if (steps.error) return <ErrorBanner error={steps.error} />;
  if (!steps.data) return <Spinner />;
  const all = steps.data.filter((s) => mediaKind(s.value) === kind);
  if (!all.length) return <p className="muted small">no values</p>;
  if (kind === "histogram") return <Histograms steps={all} />;
  const i = idx === null ? all.length - 1 : Math.min(idx, all.length - 1);
  const cur = all[i];
  const slider =
    all.length > 1 ? (
      <label style={{ display: "flex", marginBottom: 8 }}>
        step {cur.step}
        <input type="range" min={0} max={all.length - 1} value={i} onChange={(e) => setIdx(Number(e.target.value))} style={{ flex: 1 }} aria-label={`${metric} step`} />
        <span className="muted">
          {i + 1}/{all.length}
        </span>
      </label>
    ) : null;
  const file = (ref: Ref) => fileUrl(entity, project, run, ref.path ?? "");
  if (kind === "image") {
    const refs = refsOf(cur.value);
    return (
      <div>
        {slider}
        <div className="media-grid">
          {refs.map((r, k) => (
            <figure key={`${r.path}-${k}`}>
              <img src={file(r)} alt={r.caption ?? `${metric} ${k}`} width={128} height={128} loading="lazy" />
              {r.caption && <figcaption>{r.caption}</figcaption>}
            </figure>
          ))}
        </div>
      </div>
    );
  }
  const ref = cur.value as Ref;
  return (
    <div>
      {slider}
      {kind === "table" ? <TableFile url={file(ref)} /> : <PlotFile url={file(ref)} chart={ref.chart ?? ""} />}
    </div>
  );
}

function useJson(url: string) {
  return useAsync(async (signal) => {
    const res = await fetch(url, { signal, credentials: "same-origin" });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    return (await res.json()) as TableJson;
  }, [url]);
}

const PAGE = 25;

function TableFile({ url }: { url: string }) {
  const t = useJson(url);
  const [page, setPage] = useState(0);
  const [sort, setSort] = useState<{ col: number; desc: boolean } | null>(null);
  const strCells = useMemo(() => new Set((t.data?.str_cells ?? []).map(([r, c]) => `${r},${c}`)), [t.data]);
  const order = useMemo(() => {
    const d = t.data;
    if (!d) return [];
    const idx = d.data.map((_, i) => i);
    if (sort) {
      idx.sort((a, b) => {
        const x = cell(d, a, sort.col, strCells);
        const y = cell(d, b, sort.col, strCells);
        const cmp = typeof x === "number" && typeof y === "number" ? x - y : formatValue(x).localeCompare(formatValue(y), undefined, { numeric: true });
        return sort.desc ? -cmp : cmp;
      });
    }
    return idx;
  }, [t.data, sort, strCells]);
  if (t.error) return <ErrorBanner error={t.error} />;
  if (!t.data) return <Spinner />;
  const d = t.data;
  const pages = Math.max(1, Math.ceil(order.length / PAGE));
  const p = Math.min(page, pages - 1);
  return (
    <div>
      <div style={{ overflow: "auto", maxHeight: 420 }}>
        <table className="plain">
          <thead>
            <tr>
              {d.columns.map((c, i) => (
                <th key={c} style={{ cursor: "pointer" }} onClick={() => setSort((s) => (s?.col === i ? { col: i, desc: !s.desc } : { col: i, desc: false }))} aria-sort={sort?.col === i ? (sort.desc ? "descending" : "ascending") : undefined}>
                  {c}
                  {sort?.col === i ? (sort.desc ? " ↓" : " ↑") : ""}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {order.slice(p * PAGE, (p + 1) * PAGE).map((r) => (
              <tr key={r}>
                {d.columns.map((_, c) => {
                  const v = cell(d, r, c, strCells);
                  const ref = v && typeof v === "object" && (v as Ref)._type === "image" ? (v as Ref) : null;
                  return (
                    <td key={c} className={typeof v === "number" ? "num" : ""}>
                      {ref ? <img src={url.replace(/\/files\/.*$/, `/files/${ref.path}`)} alt="" style={{ height: 40 }} /> : formatValue(v)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="row small" style={{ marginTop: 6 }}>
        <button disabled={p === 0} onClick={() => setPage(p - 1)}>
          ‹ Prev
        </button>
        <span className="muted">
          rows {order.length ? p * PAGE + 1 : 0}–{Math.min(order.length, (p + 1) * PAGE)} of {order.length}
        </span>
        <button disabled={p >= pages - 1} onClick={() => setPage(p + 1)}>
          Next ›
        </button>
      </div>
    </div>
  );
}

function PlotFile({ url, chart }: { url: string; chart: string }) {
  const t = useJson(url);
  if (t.error) return <ErrorBanner error={t.error} />;
  if (!t.data) return <Spinner />;
  const d = t.data;
  const kind = d.chart ?? chart;
  if (kind === "confusion_matrix") return <Confusion t={d} />;
  if (kind === "bar") return <Bars t={d} />;
  if (kind === "histogram") return <ValueHistogram t={d} />;
  return <XYPlot t={d} kind={kind} />;
}

function Confusion({ t }: { t: TableJson }) {
  const { classes, counts } = useMemo(() => confusionCells(t), [t]);
  const max = Math.max(1, ...counts.flat());
  const [theme] = useTheme();
  return (
    <div style={{ overflow: "auto" }}>
      {t.title && <div className="small muted">{t.title}</div>}
      <table className="heat" aria-label="confusion matrix">
        <thead>
          <tr>
            <th className="small">actual ↓ / predicted →</th>
            {classes.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {classes.map((c, i) => (
            <tr key={c}>
              <th style={{ textAlign: "right" }}>{c}</th>
              {counts[i].map((n, j) => {
                const a = n / max;
                const hue = i === j ? 215 : 8;
                return (
                  <td
                    key={j}
                    title={`actual ${c}, predicted ${classes[j]}: ${n}`}
                    style={{ background: n ? `hsla(${hue}, 75%, ${theme === "dark" ? 55 : 50}%, ${0.12 + 0.88 * a})` : "var(--bg2)", color: a > 0.55 ? "#fff" : undefined }}
                  >
                    {n}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** plot.histogram: the table keeps every value; binned here into `meta.bins` bins. */
function ValueHistogram({ t }: { t: TableJson }) {
  const v = col(t, t.fields?.value);
  const { edges, counts } = useMemo(() => binValues(t.data.map((r) => r[v]), Number(t.meta?.bins ?? 64)), [t, v]);
  const max = Math.max(1, ...counts);
  if (!counts.length) return <p className="muted small">no finite values</p>;
  return (
    <div>
      <div className="small muted">
        {t.title ?? t.fields?.value} · {t.data.length} values · {formatNumber(edges[0])} … {formatNumber(edges[edges.length - 1])}
      </div>
      <div style={{ display: "flex", alignItems: "flex-end", height: 160, gap: 1, marginTop: 6 }}>
        {counts.map((c, b) => (
          <div key={b} title={`${formatNumber(edges[b])} … ${formatNumber(edges[b + 1])}: ${c}`} style={{ flex: 1, height: `${(c / max) * 100}%`, background: "var(--accent)", minHeight: c ? 1 : 0 }} />
        ))}
      </div>
    </div>
  );
}

function Bars({ t }: { t: TableJson }) {
  const l = col(t, t.fields?.label);
  const v = col(t, t.fields?.value);
  const rows = t.data.map((r) => ({ label: formatValue(r[l]), value: Number(r[v]) || 0 }));
  const max = Math.max(1e-12, ...rows.map((r) => Math.abs(r.value)));
  return (
    <div>
      {t.title && <div className="small muted">{t.title}</div>}
      {rows.map((r, i) => (
        <div key={i} className="row small" style={{ flexWrap: "nowrap" }}>
          <span style={{ width: 120, overflow: "hidden", textOverflow: "ellipsis" }}>{r.label}</span>
          <div className="bar" style={{ width: `${(Math.abs(r.value) / max) * 60}%` }} />
          <span className="mono">{formatNumber(r.value)}</span>
        </div>
      ))}
    </div>
  );
}

function XYPlot({ t, kind }: { t: TableJson; kind: string }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [theme] = useTheme();
  const lines = useMemo(() => plotLines(t), [t]);
  const syncKey = useMemo(() => `plot-${Math.random().toString(36).slice(2)}`, []);
  const model: ChartModel = useMemo(() => {
    // equal x values within a line (ROC's vertical steps) need distinct x for uPlot: nudge them
    const nudged = lines.map((l) => {
      const xs = [...l.pts.xs];
      for (let i = 1; i < xs.length; i++) if (xs[i] <= xs[i - 1]) xs[i] = xs[i - 1] + 1e-9;
      return { ...l.pts, xs };
    });
    return {
      data: align(nudged, 20000),
      series: lines.map((l, i) => ({ label: l.name || (t.fields?.y ?? "y"), color: PALETTE[i % PALETTE.length], width: 1.5 })),
      tooltip: lines.map((l, i) => ({ label: l.name || (t.fields?.y ?? "y"), color: PALETTE[i % PALETTE.length], points: l.pts })),
    };
  }, [lines, t.fields]);
  const extra = (t.meta?.auc ?? t.meta?.average_precision) as Record<string, unknown> | undefined;
  return (
    <div ref={ref}>
      <div className="small muted">
        {t.title ?? kind.replace("_", " ")} · x = {t.fields?.x}, y = {t.fields?.y}
        {extra && ` · ${kind === "roc_curve" ? "AUC" : "AP"} ` + Object.entries(extra).map(([k, v]) => `${k}: ${formatNumber(num(v) ?? Number(v), 3)}`).join(", ")}
      </div>
      {width > 0 && (
        <LineChart model={model} width={width} height={300} xKind="metric" xLabel={t.fields?.x ?? "x"} logY={false} zoom={null} onZoom={() => {}} syncKey={syncKey} theme={theme} />
      )}
    </div>
  );
}

function Histograms({ steps }: { steps: { step: number; value: unknown }[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [box, width] = useWidth<HTMLDivElement>();
  const [theme] = useTheme();
  const [sel, setSel] = useState(steps.length - 1);
  const hs = steps.map((s) => s.value as Ref);
  const lo = Math.min(...hs.map((h) => h.bins?.[0] ?? Infinity));
  const hi = Math.max(...hs.map((h) => h.bins?.[h.bins.length - 1] ?? -Infinity));
  const height = 180;
  useEffect(() => {
    const c = canvas.current;
    if (!c || !width || !(hi > lo)) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    const g = c.getContext("2d")!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, width, height);
    // one column per step, value range on y, shade = count within the step (normalised)
    const colW = width / hs.length;
    hs.forEach((h, k) => {
      const bins = h.bins ?? [];
      const vals = h.values ?? [];
      const m = Math.max(1, ...vals);
      for (let b = 0; b < vals.length; b++) {
        const y0 = height - ((bins[b] - lo) / (hi - lo)) * height;
        const y1 = height - ((bins[b + 1] - lo) / (hi - lo)) * height;
        g.fillStyle = `hsla(215, 80%, 50%, ${vals[b] / m})`;
        g.fillRect(k * colW, y1, Math.max(1, colW), Math.max(1, y0 - y1));
      }
      if (k === sel) {
        g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--danger");
        g.strokeRect(k * colW + 0.5, 0.5, Math.max(1, colW) - 1, height - 1);
      }
    });
  }, [hs, width, lo, hi, sel, theme]);
  const cur = hs[Math.min(sel, hs.length - 1)];
  const max = Math.max(1, ...(cur.values ?? []));
  return (
    <div ref={box}>
      <div className="small muted">
        {steps.length} steps · values {formatNumber(lo)} … {formatNumber(hi)} (bottom to top)
      </div>
      <canvas ref={canvas} style={{ width: "100%", height, display: "block" }} aria-label="histograms over steps" />
      <label style={{ display: "flex", margin: "6px 0" }}>
        step {steps[sel]?.step}
        <input type="range" min={0} max={steps.length - 1} value={sel} onChange={(e) => setSel(Number(e.target.value))} style={{ flex: 1 }} aria-label="histogram step" />
      </label>
      <div style={{ display: "flex", alignItems: "flex-end", height: 80, gap: 1 }}>
        {(cur.values ?? []).map((v, b) => (
          <div key={b} title={`${formatNumber(cur.bins![b])} … ${formatNumber(cur.bins![b + 1])}: ${v}`} style={{ flex: 1, height: `${(v / max) * 100}%`, background: "var(--accent)", minHeight: v ? 1 : 0 }} />
        ))}
      </div>
    </div>
  );
}

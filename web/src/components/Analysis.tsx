// Parallel coordinates (config keys against a metric, drawn on a canvas: 10,000 lines stay
// smooth) and parameter importance (computed by the server: correlation and a small tree model).

import { useEffect, useMemo, useRef, useState } from "react";
import { getColumns, getImportance, type ColumnsOut, type ProjectKeys } from "../api/dashboard";
import { mainMetrics, variedConfig } from "../lib/columns";
import { axisPos, makeAxis, type Axis } from "../lib/axes";
import { formatNumber, formatValue } from "../lib/format";
import { useAsync, useTheme, useWidth } from "../lib/hooks";
import { ErrorBanner, Spinner } from "./common";

interface Props {
  entity: string;
  project: string;
  kind: "parallel" | "importance";
  keys: ProjectKeys | undefined;
  filters: object | null;
  data: ColumnsOut | undefined;
  colors: Map<string, string>;
  metric: string | null;
  setMetric: (m: string) => void;
}

export default function Analysis(p: Props) {
  const metrics = useMemo(() => (p.keys ? mainMetrics(p.keys) : []), [p.keys]);
  const metric = p.metric && metrics.includes(p.metric) ? p.metric : metrics[0];
  if (!p.keys) return <Spinner />;
  if (!metric) {
    return <p className="muted">No run has a numeric summary value yet: log a metric (labbook.log) to compare parameters against it.</p>;
  }
  return (
    <div>
      <div className="chart-toolbar">
        <label>
          Metric
          <select value={metric} onChange={(e) => p.setMetric(e.target.value)} aria-label="metric">
            {metrics.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </div>
      {p.kind === "parallel" ? <Parallel {...p} metric={metric} /> : <Importance {...p} metric={metric} />}
    </div>
  );
}

// --------------------------------------------------------------------------- importance

function Importance({ entity, project, filters, metric }: Props & { metric: string }) {
  const imp = useAsync((signal) => getImportance(entity, project, { metric: `summary.${metric}`, filters }, signal), [entity, project, metric, JSON.stringify(filters)]);
  if (imp.error) return <ErrorBanner error={imp.error} onRetry={imp.reload} />;
  if (!imp.data) return <Spinner />;
  const d = imp.data;
  if (!d.params.length) return <p className="muted">No config key varies between the {d.runs} runs that have {metric}: nothing to rank.</p>;
  return (
    <div className="card pad">
      <p className="muted small" style={{ marginTop: 0 }}>
        How much each config key explains {metric}, over {d.runs} runs: importance from a small tree model fitted on the server, correlation (Pearson) for numeric keys.
      </p>
      <table className="plain">
        <thead>
          <tr>
            <th>Config key</th>
            <th style={{ width: "40%" }}>Importance</th>
            <th className="num">Correlation</th>
          </tr>
        </thead>
        <tbody>
          {d.params.map((x) => (
            <tr key={x.key}>
              <td className="mono">
                {x.key} {x.type === "category" && <span className="tag">category</span>}
              </td>
              <td>
                <div className="row" style={{ flexWrap: "nowrap" }}>
                  <div className="bar" style={{ width: `${Math.max(1, x.importance * 100)}%` }} />
                  <span className="mono small">{formatNumber(x.importance, 2)}</span>
                </div>
              </td>
              <td className="num" style={{ color: x.correlation === null ? undefined : x.correlation > 0 ? "var(--ok)" : "var(--danger)" }}>
                {x.correlation === null ? "—" : formatNumber(x.correlation, 2)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------------- parallel coordinates

function ticks(a: Axis): { pos: number; label: string }[] {
  if (a.kind === "category") {
    const step = Math.ceil(a.categories.length / 8);
    return a.categories.filter((_, i) => i % step === 0).map((c) => ({ pos: axisPos(a, c) ?? 0, label: c }));
  }
  const out: { pos: number; label: string }[] = [];
  for (let i = 0; i <= 4; i++) {
    const t = i / 4;
    const v = a.kind === "log" ? Math.exp(Math.log(a.min) + t * (Math.log(a.max) - Math.log(a.min))) : a.min + t * (a.max - a.min);
    out.push({ pos: t, label: formatNumber(v, 3) });
  }
  return out;
}

function Parallel({ entity, project, keys, filters, metric, colors }: Props & { metric: string }) {
  const params = useMemo(() => (keys ? variedConfig(keys).slice(0, 10) : []), [keys]);
  const fields = useMemo(() => [...params.map((k) => `config.${k}`), `summary.${metric}`], [params, metric]);
  const cols = useAsync(
    (signal) => getColumns(entity, project, { select: ["name", ...fields], filters, order: "-created_at", limit: 10000 }, { signal }).then((r) => r.data!),
    [entity, project, fields.join(","), JSON.stringify(filters)],
  );
  const [theme] = useTheme();
  const [box, width] = useWidth<HTMLDivElement>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<number | null>(null);
  const height = 420;

  const axes = useMemo(() => (cols.data ? fields.map((f, i) => makeAxis(f, i === fields.length - 1 ? metric : params[i], cols.data!.columns[f] ?? [])) : []), [cols.data, fields, params, metric]);

  useEffect(() => {
    const c = canvas.current;
    const d = cols.data;
    if (!c || !d || !width || axes.length < 2) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    const g = c.getContext("2d")!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, width, height);
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue("--fg").trim();
    const muted = css.getPropertyValue("--muted").trim();
    const top = 34;
    const bottom = height - 24;
    const left = 60;
    const right = width - 70;
    const ax = (i: number) => left + (i * (right - left)) / (axes.length - 1);
    const y = (t: number) => bottom - t * (bottom - top);
    const mAxis = axes[axes.length - 1];
    // lines, coloured by the metric (low → high: blue → orange); selected runs on top in their colour
    const n = d.ids.length;
    g.lineWidth = n > 2000 ? 0.5 : 1;
    g.globalAlpha = n > 2000 ? 0.25 : n > 300 ? 0.45 : 0.8;
    const order: number[] = [];
    for (let i = 0; i < n; i++) if (!colors.has(d.ids[i])) order.push(i);
    for (let i = 0; i < n; i++) if (colors.has(d.ids[i])) order.push(i);
    for (const i of order) {
      const sel = colors.get(d.ids[i]);
      const mt = axisPos(mAxis, d.columns[mAxis.field]?.[i]);
      g.strokeStyle = sel ?? (mt === null ? muted : `hsl(${220 - 190 * mt}, 75%, 50%)`);
      if (sel) {
        g.globalAlpha = 1;
        g.lineWidth = 2;
      }
      if (i === hover) {
        g.globalAlpha = 1;
        g.lineWidth = 3;
      }
      g.beginPath();
      let pen = false;
      axes.forEach((a, k) => {
        const t = axisPos(a, d.columns[a.field]?.[i]);
        if (t === null) {
          pen = false;
          return;
        }
        if (pen) g.lineTo(ax(k), y(t));
        else g.moveTo(ax(k), y(t));
        pen = true;
      });
      g.stroke();
      if (sel || i === hover) {
        g.globalAlpha = n > 2000 ? 0.25 : n > 300 ? 0.45 : 0.8;
        g.lineWidth = n > 2000 ? 0.5 : 1;
      }
    }
    // axes
    g.globalAlpha = 1;
    g.font = "11px system-ui, sans-serif";
    axes.forEach((a, k) => {
      const x = ax(k);
      g.strokeStyle = muted;
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(x, top);
      g.lineTo(x, bottom);
      g.stroke();
      g.fillStyle = fg;
      g.textAlign = "center";
      g.font = "600 11.5px system-ui, sans-serif";
      g.fillText(a.label + (a.kind === "log" ? " (log)" : ""), x, top - 14, 150);
      g.font = "11px system-ui, sans-serif";
      g.textAlign = k === axes.length - 1 ? "left" : "right";
      for (const t of ticks(a)) {
        g.fillStyle = muted;
        g.fillText(t.label, k === axes.length - 1 ? x + 6 : x - 6, y(t.pos) + 4, 90);
      }
    });
  }, [cols.data, axes, width, colors, theme, hover]);

  if (cols.error) return <ErrorBanner error={cols.error} onRetry={cols.reload} />;
  if (!params.length) return <p className="muted">No config key varies between these runs: every run has the same configuration.</p>;
  return (
    <div className="card pad pc" ref={box}>
      {!cols.data ? (
        <div style={{ height }}>
          <Spinner />
        </div>
      ) : (
        <>
          <canvas
            ref={canvas}
            style={{ width: "100%", height, display: "block" }}
            aria-label={`parallel coordinates of ${params.join(", ")} against ${metric}`}
            onMouseMove={(e) => {
              const d = cols.data!;
              const r = e.currentTarget.getBoundingClientRect();
              const mx = e.clientX - r.left;
              const my = e.clientY - r.top;
              // nearest line at the nearest axis
              const left = 60;
              const right = width - 70;
              const k = Math.round(((mx - left) / (right - left)) * (axes.length - 1));
              if (k < 0 || k >= axes.length) return setHover(null);
              const a = axes[k];
              let best: number | null = null;
              let bd = 8;
              for (let i = 0; i < d.ids.length; i++) {
                const t = axisPos(a, d.columns[a.field]?.[i]);
                if (t === null) continue;
                const dy = Math.abs(height - 24 - t * (height - 58) - my);
                if (dy < bd) {
                  bd = dy;
                  best = i;
                }
              }
              setHover(best);
            }}
            onMouseLeave={() => setHover(null)}
          />
          <div className="small muted" style={{ height: 20 }}>
            {hover !== null && cols.data
              ? `${String(cols.data.columns.name?.[hover] || cols.data.ids[hover])}: ` + axes.map((a) => `${a.label} = ${formatValue(cols.data!.columns[a.field]?.[hover])}`).join(" · ")
              : `${cols.data.ids.length} runs · colour = ${metric} (blue low, orange high) · selected runs in their colour`}
          </div>
        </>
      )}
    </div>
  );
}

import { parseZoom, setQuery, useQuery } from "../lib/router";

/** Smoothing, x-axis, log scale and zoom reset, read from and written to the URL. */
export function ChartToolbar({ xMetrics, defaultX = "step", children }: { xMetrics: string[]; defaultX?: string; children?: React.ReactNode }) {
  const query = useQuery();
  const smoothing = Math.min(Math.max(Number(query.get("smooth") ?? 0) || 0, 0), 0.99);
  const zoom = parseZoom(query.get("zoom"));
  return (
    <div className="chart-toolbar">
      <label title="exponential moving average; the raw line stays faint">
        Smoothing
        <input type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setQuery({ smooth: Number(e.target.value) ? e.target.value : null })} aria-label="smoothing" />
        <span className="mono" style={{ width: 32 }}>
          {smoothing.toFixed(2)}
        </span>
      </label>
      <label>
        x-axis
        <select value={query.get("x") ?? defaultX} onChange={(e) => setQuery({ x: e.target.value === defaultX ? null : e.target.value, zoom: null })} aria-label="x-axis">
          <option value="step">step</option>
          <option value="rt">relative time</option>
          <option value="wall">wall time</option>
          {xMetrics.map((k) => (
            <option key={k} value={`metric:${k}`}>
              {k}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={query.get("log") === "1"} onChange={(e) => setQuery({ log: e.target.checked ? "1" : null })} /> log scale
      </label>
      {zoom && (
        <button onClick={() => setQuery({ zoom: null })} title="or double-click a chart">
          Reset zoom
        </button>
      )}
      {children}
    </div>
  );
}

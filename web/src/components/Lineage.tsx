// The lineage graph around a run or an artifact version: runs and versions as nodes, edges the
// way data flows (a version → the run that used it → the versions that run logged), laid out
// left to right by lib/dag.ts and drawn as SVG. Nodes are links (a click opens the run or the
// version, a middle click a new tab), reachable with Tab; depth and direction live in the URL.

import { useMemo, useState } from "react";
import { getLineage, type Direction, type LineageNode, type LineageRoot } from "../api/artifacts";
import { ApiError } from "../api/client";
import { edgePath, layoutDag } from "../lib/dag";
import { useAsync } from "../lib/hooks";
import { artifactsPath, navigate, runPath, setQuery, useQuery } from "../lib/router";
import { Empty, ErrorBanner, Spinner } from "./common";

const DIRECTIONS: Direction[] = ["both", "upstream", "downstream"];
const W = 200;
const H = 48;

export function nodeUrl(n: LineageNode): string {
  if (n.kind === "run") return runPath(n.entity, n.project, n.run_id ?? "");
  return artifactsPath(n.entity, n.project, n.name ?? "", n.version ?? `v${n.index ?? 0}`);
}

function nodeTitle(n: LineageNode): string {
  return n.kind === "run" ? n.name || n.run_id || n.id : `${n.name}:${n.version}`;
}

function nodeSub(n: LineageNode, home: { entity: string; project: string }): string {
  const where = n.entity !== home.entity || n.project !== home.project ? ` · ${n.entity}/${n.project}` : "";
  if (n.kind === "run") return `run · ${n.state ?? "?"}${where}`;
  const aliases = (n.aliases ?? []).filter((a) => a !== "latest");
  return `${n.type ?? "artifact"}${aliases.length ? ` · ${aliases.join(", ")}` : ""}${where}`;
}

function clip(s: string, chars: number): string {
  return s.length > chars ? `${s.slice(0, chars - 1)}…` : s;
}

export function LineageView({ root }: { root: LineageRoot }) {
  const query = useQuery();
  const depth = Math.min(Math.max(Number(query.get("depth")) || 3, 1), 10);
  const direction = (DIRECTIONS as string[]).includes(query.get("flow") ?? "") ? (query.get("flow") as Direction) : "both";
  const key = root.kind === "run" ? `run ${root.entity}/${root.project}/${root.run}` : `artifact ${root.entity}/${root.project}/${root.name}/${root.ref}`;
  const graph = useAsync((signal) => getLineage(root, depth, direction, signal), [key, depth, direction]);

  return (
    <div>
      <div className="chart-toolbar">
        <label>
          Depth
          <select value={depth} onChange={(e) => setQuery({ depth: e.target.value === "3" ? null : e.target.value })} aria-label="lineage depth">
            {Array.from({ length: 10 }, (_, i) => i + 1).map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <span className="seg" role="group" aria-label="lineage direction">
          {DIRECTIONS.map((d) => (
            <button key={d} className={direction === d ? "on" : ""} aria-pressed={direction === d} onClick={() => setQuery({ flow: d === "both" ? null : d })}>
              {d}
            </button>
          ))}
        </span>
        <span className="muted small">Data flows left to right: a version → the run that used it → the versions that run logged.</span>
      </div>
      {graph.error ? (
        graph.error instanceof ApiError && graph.error.status === 404 ? (
          <Empty title="No lineage to show">
            <p>{graph.error.message}</p>
          </Empty>
        ) : (
          <ErrorBanner error={graph.error} onRetry={graph.reload} />
        )
      ) : !graph.data ? (
        <Spinner label="Loading the lineage…" />
      ) : (
        <>
          {graph.data.truncated && (
            <div className="banner warn small" role="status">
              The graph stops at 500 nodes: lower the depth, or look upstream or downstream only.
            </div>
          )}
          {graph.data.edges.length === 0 ? (
            <Empty title="No lineage yet">
              {root.kind === "run" ? (
                <p>
                  This run neither used nor logged an artifact{direction !== "both" ? ` (${direction})` : ""}. <code>run.use_artifact("dataset:latest")</code> records an input, <code>run.log_artifact(artifact)</code> an output.
                </p>
              ) : (
                <p>
                  No run logged or used this version{direction !== "both" ? ` (${direction})` : ""}. <code>run.log_artifact(artifact)</code> records its producer, <code>run.use_artifact("{root.name}:latest")</code> each consumer.
                </p>
              )}
            </Empty>
          ) : (
            <LineageGraph nodes={graph.data.nodes} edges={graph.data.edges} root={graph.data.root} home={root} />
          )}
        </>
      )}
    </div>
  );
}

export function LineageGraph({ nodes, edges, root, home }: { nodes: LineageNode[]; edges: { source: string; target: string }[]; root: string; home: { entity: string; project: string } }) {
  const [hover, setHover] = useState<string | null>(null);
  const byId = useMemo(() => new Map(nodes.map((n) => [n.id, n])), [nodes]);
  const layout = useMemo(
    () =>
      layoutDag(
        nodes.map((n) => n.id),
        edges,
        { nodeWidth: W, nodeHeight: H },
      ),
    [nodes, edges],
  );
  const chars = Math.floor((W - 28) / 7.2);
  return (
    <div className="lineage">
      <svg width={layout.width} height={layout.height} role="group" aria-label="lineage graph" data-nodes={layout.nodes.length} data-edges={layout.edges.length}>
        <defs>
          <marker id="lb-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="arrow" />
          </marker>
        </defs>
        {layout.edges.map((e) => (
          <path
            key={`${e.source} ${e.target}`}
            d={edgePath(e.points)}
            className={`edge ${hover && (hover === e.source || hover === e.target) ? "hl" : ""}`}
            markerEnd="url(#lb-arrow)"
            data-edge={`${e.source} -> ${e.target}`}
          />
        ))}
        {layout.nodes.map((ln) => {
          const n = byId.get(ln.id)!;
          const url = nodeUrl(n);
          const isRoot = n.id === root;
          const title = nodeTitle(n);
          const sub = nodeSub(n, home);
          return (
            <a
              key={n.id}
              href={url}
              className={`node ${n.kind} ${isRoot ? "root" : ""}`}
              aria-label={`${n.kind === "run" ? "run" : "artifact"} ${title}${isRoot ? " (this one)" : ""}`}
              aria-current={isRoot ? "page" : undefined}
              data-node={n.id}
              data-layer={ln.layer}
              onMouseEnter={() => setHover(n.id)}
              onMouseLeave={() => setHover(null)}
              onFocus={() => setHover(n.id)}
              onBlur={() => setHover(null)}
              onClick={(e) => {
                if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
                e.preventDefault();
                navigate(url);
              }}
            >
              <title>{`${title}\n${sub}\n${n.entity}/${n.project}`}</title>
              <rect x={ln.x} y={ln.y} width={ln.width} height={ln.height} rx={n.kind === "run" ? 14 : 3} />
              {n.kind === "run" ? <circle cx={ln.x + 14} cy={ln.y + 17} r={4} className={`dot ${n.state ?? ""}`} /> : <rect x={ln.x} y={ln.y} width={5} height={ln.height} className="band" />}
              <text x={ln.x + 24} y={ln.y + 21} className="name">
                {clip(title, chars)}
              </text>
              <text x={ln.x + 24} y={ln.y + 38} className="sub">
                {clip(sub, chars + 4)}
              </text>
            </a>
          );
        })}
      </svg>
    </div>
  );
}


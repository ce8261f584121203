// A run's files (browse, preview text and images, download) and its console log (searchable,
// downloadable, following a running run).

import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { fileUrl, type FileOut } from "../api/client";
import { formatBytes, formatDate } from "../lib/format";
import { logLines } from "../lib/logs";
import { useInterval } from "../lib/hooks";
import { setQuery, useQuery } from "../lib/router";
import { Empty, ErrorBanner, Spinner } from "./common";
import { FilePreviewBody } from "./Preview";

export const LOG_FILE = "output.log";
const LOG_MAX = 8 << 20;

// --------------------------------------------------------------------------------------- files

export function FilesTab({ entity, project, run, files, error }: { entity: string; project: string; run: string; files: FileOut[] | undefined; error?: Error }) {
  const query = useQuery();
  const current = query.get("file");
  const [q, setQ] = useState("");
  const sorted = useMemo(() => [...(files ?? [])].sort((a, b) => a.path.localeCompare(b.path)).filter((f) => !q || f.path.toLowerCase().includes(q.toLowerCase())), [files, q]);
  if (error) return <ErrorBanner error={error} />;
  if (!files) return <Spinner />;
  if (!files.length) {
    return (
      <Empty title="No files">
        <p>
          <code>labbook.save("model.pt")</code> or <code>run.log_code(".")</code> adds files to a run; the console output lands in <code>{LOG_FILE}</code>.
        </p>
      </Empty>
    );
  }
  const file = files.find((f) => f.path === current) ?? null;
  return (
    <div className="files">
      <div>
        <input placeholder={`filter ${files.length} files`} value={q} onChange={(e) => setQ(e.target.value)} style={{ width: "100%", marginBottom: 6 }} aria-label="filter files" />
        <div className="tree" role="listbox" aria-label="files">
          {sorted.map((f) => {
            const cut = f.path.lastIndexOf("/");
            return (
              <div
                key={f.path}
                role="option"
                tabIndex={0}
                aria-selected={f.path === current}
                className={f.path === current ? "active" : ""}
                onClick={() => setQuery({ file: f.path })}
                onKeyDown={(e) => e.key === "Enter" && setQuery({ file: f.path })}
                title={f.path}
              >
                <span>
                  {cut > 0 && <span className="muted">{f.path.slice(0, cut + 1)}</span>}
                  {f.path.slice(cut + 1)}
                </span>
                <span className="size">{formatBytes(f.size)}</span>
              </div>
            );
          })}
        </div>
      </div>
      <div>{file ? <FilePreview entity={entity} project={project} run={run} file={file} /> : <p className="muted">Choose a file to preview it.</p>}</div>
    </div>
  );
}

function FilePreview({ entity, project, run, file }: { entity: string; project: string; run: string; file: FileOut }) {
  const url = fileUrl(entity, project, run, file.path);
  return (
    <div>
      <div className="row" style={{ marginBottom: 6 }}>
        <b className="mono">{file.path}</b>
        <span className="muted small">
          {formatBytes(file.size)} · {formatDate(file.updated_at)} · sha256 {file.sha256.slice(0, 12)}
        </span>
        <span className="grow" />
        <a className="btn" href={url} download={file.path.split("/").pop()}>
          Download
        </a>
      </div>
      <FilePreviewBody url={url} path={file.path} size={file.size} />
    </div>
  );
}

// ---------------------------------------------------------------------------------------- logs

export function LogsTab({ entity, project, run, files, live }: { entity: string; project: string; run: string; files: FileOut[] | undefined; live: boolean }) {
  const log = files?.find((f) => f.path === LOG_FILE);
  const url = fileUrl(entity, project, run, LOG_FILE);
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [partial, setPartial] = useState(false);
  const loaded = useRef(0);
  const decoder = useRef(new TextDecoder());

  const load = async (append: boolean) => {
    const headers: Record<string, string> = {};
    const size = log?.size ?? 0;
    if (append) headers.Range = `bytes=${loaded.current}-`;
    else if (size > LOG_MAX) headers.Range = `bytes=${size - LOG_MAX}-`;
    const res = await fetch(url, { headers, credentials: "same-origin", cache: "no-cache" });
    if (res.status === 416) return; // nothing new
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    const buf = new Uint8Array(await res.arrayBuffer());
    const ranged = res.status === 206;
    if (!append) {
      decoder.current = new TextDecoder();
      loaded.current = ranged && size > LOG_MAX ? size - LOG_MAX : 0;
      setPartial(ranged && size > LOG_MAX);
    }
    if (append && !ranged) {
      // the server sent the whole file again: start over
      decoder.current = new TextDecoder();
      loaded.current = 0;
      append = false;
    }
    loaded.current += buf.length;
    const chunk = decoder.current.decode(buf, { stream: true });
    setText((t) => (append && t !== null ? t + chunk : chunk));
  };

  useEffect(() => {
    if (!log) return;
    load(false).catch((e: unknown) => setError(String(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, !!log]);
  useInterval(() => void load(true).catch(() => {}), 3000, live && !!log);

  if (!files) return <Spinner />;
  if (!log) {
    return (
      <Empty title={live ? "No console output yet" : "No console output"}>
        <p>
          labbook keeps what a run prints in <code>{LOG_FILE}</code> (console capture is on unless <code>LABBOOK_CAPTURE_CONSOLE=false</code>)
          {live ? ", uploaded with the run's files: it shows here as soon as it arrives." : "."}
        </p>
      </Empty>
    );
  }
  if (error) return <ErrorBanner error={new Error(error)} />;
  if (text === null) return <Spinner label="Loading the log…" />;
  return <LogView text={text} url={url} partial={partial} size={log.size} />;
}

function LogView({ text, url, partial, size }: { text: string; url: string; partial: boolean; size: number }) {
  const lines = useMemo(() => logLines(text), [text]);
  const [q, setQ] = useState("");
  const [only, setOnly] = useState(false);
  const [hit, setHit] = useState(0);
  const ql = q.toLowerCase();
  const matches = useMemo(() => {
    if (!ql) return [] as number[];
    const out: number[] = [];
    for (let i = 0; i < lines.length; i++) if (lines[i].toLowerCase().includes(ql)) out.push(i);
    return out;
  }, [lines, ql]);
  const shown = only && ql ? matches : null;
  const count = shown ? shown.length : lines.length;
  const box = useRef<HTMLDivElement>(null);
  const virt = useVirtualizer({ count, getScrollElement: () => box.current, estimateSize: () => 18, overscan: 30 });
  const follow = useRef(true);

  useEffect(() => {
    if (!ql && follow.current && count) virt.scrollToIndex(count - 1, { align: "end" });
  }, [count, ql, virt]);
  useEffect(() => {
    if (!matches.length || shown) return;
    virt.scrollToIndex(matches[Math.min(hit, matches.length - 1)], { align: "center" });
  }, [hit, matches, shown, virt]);

  const next = (d: number) => matches.length && setHit((h) => (h + d + matches.length) % matches.length);
  return (
    <div>
      <div className="row" style={{ marginBottom: 6 }}>
        <input
          placeholder="search the log"
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            setHit(0);
          }}
          onKeyDown={(e) => e.key === "Enter" && next(e.shiftKey ? -1 : 1)}
          aria-label="search the log"
          style={{ width: 280 }}
        />
        {ql && (
          <span className="small muted">
            {matches.length ? `${Math.min(hit + 1, matches.length)} of ${matches.length}` : "no match"}
          </span>
        )}
        <button onClick={() => next(-1)} disabled={!matches.length} aria-label="previous match">
          ↑
        </button>
        <button onClick={() => next(1)} disabled={!matches.length} aria-label="next match">
          ↓
        </button>
        <label>
          <input type="checkbox" checked={only} onChange={(e) => setOnly(e.target.checked)} /> only matching lines
        </label>
        <span className="grow" />
        <span className="small muted">
          {lines.length.toLocaleString()} lines · {formatBytes(size)}
          {partial ? " (the last 8 MiB)" : ""}
        </span>
        <a className="btn" href={url} download={LOG_FILE}>
          Download
        </a>
      </div>
      <div
        className="logview"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <div style={{ height: virt.getTotalSize(), position: "relative" }}>
          {virt.getVirtualItems().map((vi) => {
            const i = shown ? shown[vi.index] : vi.index;
            const line = lines[i];
            const isHit = ql && !shown && matches[hit] === i;
            return (
              <div key={vi.key} className={`ln ${isHit ? "hit" : ""}`} style={{ position: "absolute", top: vi.start, left: 0, right: 0, height: 18, whiteSpace: "pre", overflow: "hidden" }}>
                <span className="no">{i + 1}</span>
                <span>{ql ? highlight(line, ql) : line}</span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function highlight(line: string, ql: string): React.ReactNode {
  const low = line.toLowerCase();
  const out: React.ReactNode[] = [];
  let i = 0;
  let k = 0;
  for (;;) {
    const j = low.indexOf(ql, i);
    if (j < 0) break;
    out.push(line.slice(i, j), <mark key={k++}>{line.slice(j, j + ql.length)}</mark>);
    i = j + ql.length;
  }
  out.push(line.slice(i));
  return out;
}

import { useEffect, useMemo, useRef, useState } from "react";
import type { ProjectKeys } from "../api/dashboard";
import { BASE_FIELDS } from "../lib/columns";

interface Props {
  keys: ProjectKeys | undefined;
  shown: string[];
  onToggle: (field: string) => void;
  onReset: () => void;
  onClose: () => void;
}

const EXTRA_ATTRIBUTES = ["group", "job_type", "notes", "finished_at", "heartbeat_at"];

/** Any config key, summary key, metric statistic or run attribute as a column. */
export function ColumnPicker({ keys, shown, onToggle, onReset, onClose }: Props) {
  const [q, setQ] = useState("");
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const on = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) onClose();
    };
    const esc = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("mousedown", on);
    window.addEventListener("keydown", esc);
    return () => {
      window.removeEventListener("mousedown", on);
      window.removeEventListener("keydown", esc);
    };
  }, [onClose]);

  const sections = useMemo(() => {
    const ql = q.toLowerCase();
    const m = (f: string) => !ql || f.toLowerCase().includes(ql);
    return [
      { title: "Config", fields: (keys?.config ?? []).map((k) => `config.${k.key}`).filter(m) },
      { title: "Summary", fields: (keys?.summary ?? []).map((k) => `summary.${k.key}`).filter(m) },
      {
        title: "Metric statistics",
        fields: (keys?.metrics ?? []).flatMap((k) => ["min", "max", "last"].map((s) => `metrics.${k.key}.${s}`)).filter(m),
      },
      { title: "Run", fields: EXTRA_ATTRIBUTES.filter(m) },
    ].filter((s) => s.fields.length);
  }, [keys, q]);
  const shownSet = new Set(shown);

  return (
    <div className="popover picker" ref={box} style={{ top: 36, right: 0 }}>
      <input autoFocus placeholder="search keys" value={q} onChange={(e) => setQ(e.target.value)} aria-label="search columns" />
      <div className="list">
        {sections.map((s) => (
          <div key={s.title} style={{ display: "block", padding: 0 }}>
            <div className="sec">{s.title}</div>
            {s.fields.slice(0, 300).map((f) => (
              <div key={f} onClick={() => onToggle(f)} role="checkbox" aria-checked={shownSet.has(f)} tabIndex={0} onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && onToggle(f)}>
                <input type="checkbox" readOnly checked={shownSet.has(f)} tabIndex={-1} /> {f}
              </div>
            ))}
            {s.fields.length > 300 && <div className="sec">… {s.fields.length - 300} more: search to narrow</div>}
          </div>
        ))}
        {!sections.length && <div className="sec">no key matches</div>}
      </div>
      <div className="row">
        <span className="muted small grow">
          {shown.length - BASE_FIELDS.length > 0 ? `${shown.length - BASE_FIELDS.length} extra columns` : ""}
        </span>
        <button onClick={onReset}>Default columns</button>
      </div>
    </div>
  );
}

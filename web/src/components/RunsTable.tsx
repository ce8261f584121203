// The runs table: TanStack Table for the columns (sizing, headers), TanStack Virtual for the
// rows, so 10,000 runs render as the few dozen rows on screen. Data is columnar, as the server
// sends it: a row is an index into every column's array.

import { getCoreRowModel, useReactTable, type ColumnDef, type Header } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent } from "react";
import type { ColumnsOut } from "../api/dashboard";
import { columnKind, columnLabel, groupRows, groupStats } from "../lib/columns";
import { formatDate, formatDuration, formatNumber, formatShortDate, formatValue } from "../lib/format";
import { Link, runPath } from "../lib/router";
import { StateBadge } from "./common";

export interface RunsTableProps {
  entity: string;
  project: string;
  data: ColumnsOut;
  fields: string[]; // the columns shown, base attributes included
  sort: string | null;
  onSort: (field: string) => void;
  selected: string[];
  onSelect: (ids: string[]) => void;
  colors: Map<string, string>;
  groupBy: string | null;
  onRename: (id: string, name: string) => Promise<void>;
  onRemoveColumn: (field: string) => void;
  onOpen: (id: string) => void;
}

type DisplayRow = { kind: "run"; i: number } | { kind: "group"; key: string; value: unknown; rows: number[] };

const ROW = 30;
const WIDTHS: Record<string, number> = { name: 200, state: 96, created_at: 98, runtime: 74, tags: 110, user: 82 };
const UNSORTABLE = new Set(["tags", "user", "runtime"]);

function isNumeric(values: unknown[] | undefined): boolean {
  if (!values) return false;
  for (let i = 0; i < values.length && i < 200; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (typeof v !== "number" && v !== "NaN" && v !== "Infinity" && v !== "-Infinity") return false;
  }
  return true;
}

function cellText(field: string, v: unknown): string {
  if (v === null || v === undefined) return "";
  if (field === "created_at" || field === "finished_at" || field === "heartbeat_at") return formatShortDate(v as string);
  if (field === "runtime") return formatDuration(v as number);
  return formatValue(v);
}

export const RunsTable = memo(function RunsTable(props: RunsTableProps) {
  const { data, fields, selected, groupBy } = props;
  const n = data.ids.length;
  const selectedSet = useMemo(() => new Set(selected), [selected]);
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const [cursor, setCursor] = useState(-1);
  const [renaming, setRenaming] = useState<string | null>(null);
  const lastClicked = useRef<number | null>(null);
  const scroller = useRef<HTMLDivElement>(null);

  const numeric = useMemo(() => {
    const m = new Map<string, boolean>();
    for (const f of fields) m.set(f, f === "runtime" || (columnKind(f) !== "attribute" && isNumeric(data.columns[f])));
    return m;
  }, [fields, data]);

  const display: DisplayRow[] = useMemo(() => {
    if (!groupBy) return Array.from({ length: n }, (_, i) => ({ kind: "run" as const, i }));
    const out: DisplayRow[] = [];
    for (const g of groupRows(data.columns[groupBy], n)) {
      out.push({ kind: "group", key: g.key, value: g.value, rows: g.rows });
      if (!collapsed.has(g.key)) for (const i of g.rows) out.push({ kind: "run", i });
    }
    return out;
  }, [groupBy, data, n, collapsed]);

  const rowIndex = useMemo(() => Array.from({ length: n }, (_, i) => i), [n]);
  const columns = useMemo<ColumnDef<number>[]>(
    () => [
      { id: "__select", size: 34, enableResizing: false, header: "" },
      ...fields.map((f) => ({ id: f, size: WIDTHS[f] ?? 112, minSize: 48, header: columnLabel(f), accessorFn: (i: number) => data.columns[f]?.[i] })),
    ],
    [fields, data],
  );
  const table = useReactTable({
    data: rowIndex,
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    enableColumnResizing: true,
    columnResizeMode: "onChange",
    getRowId: (i) => data.ids[i],
  });

  const virt = useVirtualizer({
    count: display.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 16,
  });

  // Keep the keyboard cursor on screen.
  useEffect(() => {
    if (cursor >= 0) virt.scrollToIndex(cursor, { align: "auto" });
  }, [cursor, virt]);

  const toggle = (i: number, e: MouseEvent | KeyboardEvent | null) => {
    const id = data.ids[i];
    if (e && "shiftKey" in e && e.shiftKey && lastClicked.current !== null) {
      const [a, b] = [Math.min(lastClicked.current, i), Math.max(lastClicked.current, i)];
      const add = data.ids.slice(a, b + 1).filter((x) => !selectedSet.has(x));
      props.onSelect([...selected, ...add]);
    } else {
      props.onSelect(selectedSet.has(id) ? selected.filter((x) => x !== id) : [...selected, id]);
    }
    lastClicked.current = i;
  };

  const allSelected = n > 0 && selected.length >= n && data.ids.every((id) => selectedSet.has(id));
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if ((e.target as HTMLElement).tagName === "INPUT") return;
    const row = display[cursor];
    switch (e.key) {
      case "ArrowDown":
      case "j":
        e.preventDefault();
        setCursor((c) => Math.min(display.length - 1, c + 1));
        break;
      case "ArrowUp":
      case "k":
        e.preventDefault();
        setCursor((c) => Math.max(0, c - 1));
        break;
      case " ":
      case "x":
        e.preventDefault();
        if (row?.kind === "run") toggle(row.i, e);
        else if (row?.kind === "group") setCollapsed((s) => flip(s, row.key));
        break;
      case "Enter":
      case "o":
        if (row?.kind === "run") props.onOpen(data.ids[row.i]);
        else if (row?.kind === "group") setCollapsed((s) => flip(s, row.key));
        break;
      case "F2":
        if (row?.kind === "run") setRenaming(data.ids[row.i]);
        break;
    }
  };

  const headers = table.getHeaderGroups()[0].headers;
  const totalWidth = table.getTotalSize();
  const items = virt.getVirtualItems();
  const padTop = items.length ? items[0].start : 0;
  const padBottom = items.length ? virt.getTotalSize() - items[items.length - 1].end : 0;

  return (
    <div className="grid" ref={scroller} tabIndex={0} onKeyDown={onKey} onFocus={() => cursor < 0 && display.length && setCursor(0)} aria-label="runs" role="grid" aria-rowcount={n}>
      <table style={{ width: totalWidth }}>
        <colgroup>
          {headers.map((h) => (
            <col key={h.id} style={{ width: h.getSize() }} />
          ))}
        </colgroup>
        <thead>
          <tr>
            {headers.map((h) =>
              h.id === "__select" ? (
                <th key={h.id} className="sticky">
                  <input
                    type="checkbox"
                    aria-label="select all runs"
                    checked={allSelected}
                    ref={(el) => {
                      if (el) el.indeterminate = !allSelected && selected.length > 0;
                    }}
                    onChange={() => props.onSelect(allSelected || selected.length ? [] : data.ids.slice(0, 1000))}
                  />
                </th>
              ) : (
                <HeaderCell key={h.id} h={h} sort={props.sort} onSort={props.onSort} onRemove={props.onRemoveColumn} numeric={numeric.get(h.id) ?? false} />
              ),
            )}
          </tr>
        </thead>
        <tbody>
          {padTop > 0 && (
            <tr style={{ height: padTop }}>
              <td colSpan={headers.length} style={{ padding: 0, border: 0 }} />
            </tr>
          )}
          {items.map((vi) => {
            const row = display[vi.index];
            if (row.kind === "group") {
              return (
                <GroupRow
                  key={`g:${row.key}`}
                  row={row}
                  fields={fields}
                  data={data}
                  numeric={numeric}
                  open={!collapsed.has(row.key)}
                  cursor={vi.index === cursor}
                  groupLabel={groupBy ? columnLabel(groupBy) : ""}
                  onToggle={() => setCollapsed((s) => flip(s, row.key))}
                />
              );
            }
            const id = data.ids[row.i];
            return (
              <RunRow
                key={id}
                i={row.i}
                id={id}
                fields={fields}
                data={data}
                numeric={numeric}
                selected={selectedSet.has(id)}
                color={props.colors.get(id)}
                cursor={vi.index === cursor}
                renaming={renaming === id}
                entity={props.entity}
                project={props.project}
                onToggle={(e) => toggle(row.i, e)}
                onClick={() => setCursor(vi.index)}
                onStartRename={() => setRenaming(id)}
                onRename={async (name) => {
                  setRenaming(null);
                  if (name !== null) await props.onRename(id, name);
                  scroller.current?.focus();
                }}
              />
            );
          })}
          {padBottom > 0 && (
            <tr style={{ height: padBottom }}>
              <td colSpan={headers.length} style={{ padding: 0, border: 0 }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
});

function flip(s: Set<string>, k: string): Set<string> {
  const next = new Set(s);
  if (next.has(k)) next.delete(k);
  else next.add(k);
  return next;
}

function HeaderCell({ h, sort, onSort, onRemove, numeric }: { h: Header<number, unknown>; sort: string | null; onSort: (f: string) => void; onRemove: (f: string) => void; numeric: boolean }) {
  const f = h.id;
  const sortable = !UNSORTABLE.has(f);
  const dir = sort === f ? "asc" : sort === `-${f}` ? "desc" : null;
  const removable = columnKind(f) !== "attribute";
  return (
    <th
      className={`${sortable ? "sortable" : ""} ${f === "name" ? "sticky" : ""}`}
      style={{ textAlign: numeric ? "right" : "left", position: "sticky", left: f === "name" ? 34 : undefined }}
      title={`${f}${sortable ? " (click to sort)" : ""}`}
      onClick={() => sortable && onSort(f)}
      aria-sort={dir === "asc" ? "ascending" : dir === "desc" ? "descending" : undefined}
    >
      {removable && (
        <span
          className="rm"
          role="button"
          aria-label={`remove column ${f}`}
          onClick={(e) => {
            e.stopPropagation();
            onRemove(f);
          }}
        >
          ×
        </span>
      )}
      {columnLabel(f)}
      {dir && <span className="arrow">{dir === "asc" ? "↑" : "↓"}</span>}
      {h.column.getCanResize() && (
        <span
          onMouseDown={h.getResizeHandler()}
          onClick={(e) => e.stopPropagation()}
          style={{ position: "absolute", right: 0, top: 0, bottom: 0, width: 5, cursor: "col-resize" }}
        />
      )}
    </th>
  );
}

interface RunRowProps {
  i: number;
  id: string;
  fields: string[];
  data: ColumnsOut;
  numeric: Map<string, boolean>;
  selected: boolean;
  color: string | undefined;
  cursor: boolean;
  renaming: boolean;
  entity: string;
  project: string;
  onToggle: (e: MouseEvent) => void;
  onClick: () => void;
  onStartRename: () => void;
  onRename: (name: string | null) => Promise<void>;
}

const RunRow = memo(function RunRow(p: RunRowProps) {
  const { i, data } = p;
  return (
    <tr className={`${p.selected ? "selected" : ""} ${p.cursor ? "cursor" : ""}`} onClick={p.onClick} aria-selected={p.selected}>
      <td className="sticky">
        <input type="checkbox" checked={p.selected} aria-label={`select ${data.columns.name?.[i] ?? p.id}`} onClick={(e) => p.onToggle(e)} onChange={() => {}} />
      </td>
      {p.fields.map((f) => {
        const v = data.columns[f]?.[i];
        if (f === "name") {
          return (
            <td key={f} className="sticky" style={{ left: 34 }} onDoubleClick={p.onStartRename} title="double-click (or F2) to rename">
              <div className="name">
                <span className="swatch" style={{ background: p.color ?? "transparent", border: p.color ? 0 : "1px solid var(--border)" }} />
                {p.renaming ? (
                  <RenameInput initial={(v as string) ?? ""} onDone={p.onRename} />
                ) : (
                  <Link to={runPath(p.entity, p.project, p.id)} title={`${(v as string) || p.id} (${p.id})`}>
                    {(v as string) || p.id}
                  </Link>
                )}
              </div>
            </td>
          );
        }
        if (f === "state") {
          return <td key={f}>{v ? <StateBadge state={String(v)} /> : null}</td>;
        }
        if (f === "tags") {
          const tags = Array.isArray(v) ? (v as string[]) : [];
          return (
            <td key={f} title={tags.join(", ")}>
              {tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
            </td>
          );
        }
        const text = cellText(f, v);
        return (
          <td key={f} className={p.numeric.get(f) ? "num" : ""} title={typeof v === "number" ? String(v) : f.endsWith("_at") ? formatDate(v as string, true) : text}>
            {text}
          </td>
        );
      })}
    </tr>
  );
});

function RenameInput({ initial, onDone }: { initial: string; onDone: (name: string | null) => Promise<void> }) {
  const [v, setV] = useState(initial);
  const done = useRef(false);
  const finish = (name: string | null) => {
    if (done.current) return;
    done.current = true;
    void onDone(name);
  };
  return (
    <input
      className="rename"
      autoFocus
      value={v}
      aria-label="run name"
      onChange={(e) => setV(e.target.value)}
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === "Enter") finish(v.trim() === initial ? null : v.trim());
        if (e.key === "Escape") finish(null);
      }}
      onBlur={() => finish(v.trim() === initial ? null : v.trim())}
      onClick={(e) => e.stopPropagation()}
    />
  );
}

function GroupRow({
  row,
  fields,
  data,
  numeric,
  open,
  cursor,
  groupLabel,
  onToggle,
}: {
  row: Extract<DisplayRow, { kind: "group" }>;
  fields: string[];
  data: ColumnsOut;
  numeric: Map<string, boolean>;
  open: boolean;
  cursor: boolean;
  groupLabel: string;
  onToggle: () => void;
}) {
  return (
    <tr className={`group ${cursor ? "cursor" : ""}`} onClick={onToggle} aria-expanded={open}>
      <td className="sticky">{open ? "▾" : "▸"}</td>
      {fields.map((f) => {
        if (f === "name") {
          return (
            <td key={f} className="sticky" style={{ left: 34 }} title={`${groupLabel} = ${formatValue(row.value)}`}>
              {groupLabel} = {row.value === null ? "∅" : formatValue(row.value)} <span className="stats">({row.rows.length} runs)</span>
            </td>
          );
        }
        if (!numeric.get(f)) return <td key={f} />;
        const s = groupStats(data.columns[f], row.rows);
        if (s.mean === null) return <td key={f} />;
        const fmt = f === "runtime" ? formatDuration : (x: number) => formatNumber(x);
        return (
          <td key={f} className="num" title={`mean ${s.mean} · min ${s.min} · max ${s.max} · ${s.count} runs`}>
            {fmt(s.mean)} <span className="stats">{s.min !== s.max ? `${fmt(s.min!)}–${fmt(s.max!)}` : ""}</span>
          </td>
        );
      })}
    </tr>
  );
}

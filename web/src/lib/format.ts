// Formatting of numbers, durations, dates and sizes for the tables, tooltips and axes.
// Pure functions: the same value always reads the same everywhere in the app.

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 1234567 → "1,234,567" (counts: runs, steps, points). */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return formatNumber(n);
  return INT.format(Math.round(n));
}

/**
 * A metric or config number in at most `digits` significant digits: integers as they are (with
 * separators up to 1e15), tiny and huge values in exponent form ("1.5e-4"), and the three
 * non-finite values as "NaN", "∞", "-∞".
 */
export function formatNumber(v: number, digits = 4): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "∞";
  if (v === -Infinity) return "-∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e15) return a < 1e6 ? String(v) : INT.format(v);
  if (a >= 1e-3 && a < 1e6) {
    const s = v.toPrecision(digits);
    return s.includes("e") ? String(Number(s)) : trimZeros(s);
  }
  const [m, e] = v.toExponential(digits - 1).split("e");
  return `${trimZeros(m)}e${e.startsWith("+") ? e.slice(1) : e}`;
}

function trimZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** Any stored value as one line of text: numbers by formatNumber, the rest as JSON-ish text. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "string") {
    // JSON's spelling of non-finite floats (the server's convention) reads as the number.
    if (v === "NaN" || v === "Infinity" || v === "-Infinity") return formatNumber(Number(v));
    return v;
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return `[${v.map(formatValue).join(", ")}]`;
  if (typeof v === "object") {
    const t = (v as { _type?: unknown })._type;
    if (t === "list") {
      const l = v as { items?: unknown[]; items_type?: string };
      return `‹${l.items?.length ?? 0} × ${l.items_type ?? "item"}›`;
    }
    if (typeof t === "string") return `‹${t}›`;
    const tag = (v as { $float?: unknown }).$float;
    if (typeof tag === "string") return formatNumber(tag === "nan" ? NaN : tag === "inf" ? Infinity : -Infinity);
    return JSON.stringify(v);
  }
  return String(v);
}

/** Seconds as the two largest units: "850ms", "42s", "3m 05s", "2h 10m", "3d 4h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const neg = seconds < 0;
  let s = Math.abs(seconds);
  let out: string;
  if (s < 1) out = `${Math.round(s * 1000)}ms`;
  else if (s < 60) out = s < 10 ? `${trimZeros(s.toFixed(1))}s` : `${Math.floor(s)}s`;
  else {
    s = Math.floor(s);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    if (d > 0) out = `${d}d ${h}h`;
    else if (h > 0) out = `${h}h ${pad(m)}m`;
    else out = `${m}m ${pad(sec)}s`;
  }
  return neg ? `-${out}` : out;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** An ISO time (or unix seconds) as local "2025-03-01 14:05"; "" when missing or invalid. */
export function formatDate(t: string | number | null | undefined, withSeconds = false): string {
  const d = toDate(t);
  if (!d) return "";
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${base}:${pad(d.getSeconds())}` : base;
}

/** Compact for table cells: "03-01 14:05" this year, "2024-03-01" before. */
export function formatShortDate(t: string | number | null | undefined, now: Date = new Date()): string {
  const d = toDate(t);
  if (!d) return "";
  if (d.getFullYear() !== now.getFullYear()) return formatDate(t).slice(0, 10);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function toDate(t: string | number | null | undefined): Date | null {
  if (t === null || t === undefined || t === "") return null;
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** How long ago, coarsely: "just now", "5 min ago", "3 h ago", "2 days ago", else the date. */
export function formatAgo(t: string | number | null | undefined, now: number = Date.now()): string {
  const d = toDate(t);
  if (!d) return "";
  const s = (now - d.getTime()) / 1000;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 86400 * 30) {
    const days = Math.round(s / 86400);
    return days === 1 ? "1 day ago" : `${days} days ago`;
  }
  return formatDate(t).slice(0, 10);
}

/** Bytes in binary units: "512 B", "1.5 KiB", "64 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${trimZeros(v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0))} ${units[i]}`;
}

/** A JSON number field that may hold "NaN"/"Infinity"/"-Infinity" strings, as a number (or null). */
export function num(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v && typeof v === "object" && typeof (v as { $float?: unknown }).$float === "string") {
    const tag = (v as { $float: string }).$float;
    return tag === "nan" ? NaN : tag === "inf" ? Infinity : -Infinity;
  }
  return null;
}

/** Axis tick labels with just enough digits that neighbouring ticks read differently. */
export function formatTicks(ticks: readonly number[]): string[] {
  let step = Infinity;
  let top = 0;
  for (let i = 0; i < ticks.length; i++) {
    if (Number.isFinite(ticks[i])) top = Math.max(top, Math.abs(ticks[i]));
    if (i > 0) {
      const d = Math.abs(ticks[i] - ticks[i - 1]);
      if (d > 0 && d < step) step = d;
    }
  }
  if (!Number.isFinite(step) || top === 0) return ticks.map((t) => formatNumber(t, 3));
  const digits = Math.floor(Math.log10(top)) - Math.floor(Math.log10(step)) + 1;
  return ticks.map((t) => (Math.abs(t) < step / 1e6 ? "0" : formatNumber(t, Math.min(12, Math.max(2, digits)))));
}

// The filter bar: the text of the filter language (lib/filter.ts), checked as you type, with the
// error underlined in place and field names completed from the project's keys.

import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { FILTER_ATTRIBUTES, parseFilter, quoteField, type KnownKeys } from "../lib/filter";

interface Props {
  value: string;
  onApply: (text: string) => void;
  keys: KnownKeys & { metricStats?: readonly string[] };
  serverError?: string | null;
  inputRef?: React.RefObject<HTMLInputElement | null>;
}

const BOUNDARY = /[\s()[\],=!<>]/;

/** The word the caret is in, and whether it sits where a field name goes. */
function currentWord(text: string, caret: number): { start: number; end: number; word: string; field: boolean } {
  let s = caret;
  while (s > 0 && !BOUNDARY.test(text[s - 1])) s--;
  let e = caret;
  while (e < text.length && !BOUNDARY.test(text[e])) e++;
  const before = text.slice(0, s).trimEnd();
  const prev = before.split(/[\s(]+/).pop()?.toLowerCase() ?? "";
  const field = before === "" || before.endsWith("(") || prev === "and" || prev === "or";
  return { start: s, end: e, word: text.slice(s, caret), field };
}

export function FilterBar({ value, onApply, keys, serverError, inputRef }: Props) {
  const [draft, setDraft] = useState(value);
  const [caret, setCaret] = useState(0);
  const [focused, setFocused] = useState(false);
  const [active, setActive] = useState(0);
  const own = useRef<HTMLInputElement>(null);
  const ref = inputRef ?? own;
  useEffect(() => setDraft(value), [value]);

  const result = useMemo(() => parseFilter(draft, keys), [draft, keys]);
  const error = result.ok ? null : result.error;

  const fields = useMemo(
    () => [
      ...FILTER_ATTRIBUTES,
      ...(keys.config ?? []).map((k) => `config.${k}`),
      ...(keys.summary ?? []).map((k) => `summary.${k}`),
      ...(keys.metricStats ?? []),
    ],
    [keys],
  );
  const w = currentWord(draft, caret);
  const suggestions = useMemo(() => {
    if (!focused || !w.field || w.word.length < 1) return [];
    const q = w.word.toLowerCase();
    const starts = fields.filter((f) => f.toLowerCase().startsWith(q) || f.toLowerCase().includes(`.${q}`));
    const contains = fields.filter((f) => !starts.includes(f) && f.toLowerCase().includes(q));
    return [...starts, ...contains].filter((f) => f !== w.word).slice(0, 12);
  }, [fields, w.word, w.field, focused]);

  // Apply a valid filter after a pause in typing; Enter applies at once.
  useEffect(() => {
    if (draft === value || !result.ok) return;
    const t = window.setTimeout(() => onApply(draft), 700);
    return () => window.clearTimeout(t);
  }, [draft, value, result.ok, onApply]);

  const accept = (f: string) => {
    const text = draft.slice(0, w.start) + quoteField(f) + " " + draft.slice(w.end).replace(/^\s+/, "");
    setDraft(text);
    const pos = w.start + quoteField(f).length + 1;
    requestAnimationFrame(() => {
      ref.current?.setSelectionRange(pos, pos);
      setCaret(pos);
    });
  };

  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (suggestions.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      setActive((a) => (a + (e.key === "ArrowDown" ? 1 : suggestions.length - 1)) % suggestions.length);
      return;
    }
    if (suggestions.length && e.key === "Tab") {
      e.preventDefault();
      accept(suggestions[Math.min(active, suggestions.length - 1)]);
      return;
    }
    if (e.key === "Enter") {
      e.preventDefault();
      if (suggestions.length && active >= 0 && w.word) accept(suggestions[Math.min(active, suggestions.length - 1)]);
      else if (result.ok) onApply(draft);
    }
    if (e.key === "Escape") {
      if (draft !== value) setDraft(value);
      else ref.current?.blur();
    }
  };

  const shownError = error ?? (serverError ? { message: serverError, start: 0, end: 0 } : null);
  return (
    <div className="filterbar">
      <input
        ref={ref}
        className={error ? "bad" : ""}
        value={draft}
        placeholder='filter: config.lr > 1e-3 and summary.val_acc >= 0.9 and tags has "baseline" and state = finished   (press /)'
        spellCheck={false}
        aria-label="filter runs"
        aria-invalid={!!error}
        onChange={(e) => {
          setDraft(e.target.value);
          setCaret(e.target.selectionStart ?? e.target.value.length);
          setActive(0);
        }}
        onKeyDown={onKey}
        onKeyUp={(e) => setCaret((e.target as HTMLInputElement).selectionStart ?? 0)}
        onClick={(e) => setCaret((e.target as HTMLInputElement).selectionStart ?? 0)}
        onFocus={() => setFocused(true)}
        onBlur={() => window.setTimeout(() => setFocused(false), 120)}
      />
      {draft && (
        <button
          className="ghost"
          aria-label="clear the filter"
          style={{ position: "absolute", right: 2, top: 0, height: 28, padding: "0 6px" }}
          onClick={() => {
            setDraft("");
            onApply("");
          }}
        >
          ×
        </button>
      )}
      {suggestions.length > 0 ? (
        <div className="suggest" role="listbox">
          {suggestions.map((s, i) => (
            <div
              key={s}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
            >
              {s}
            </div>
          ))}
        </div>
      ) : (
        shownError &&
        (focused || !error || draft !== value) && (
          <div className="err" role="alert">
            {shownError.message}
            {error && (
              <pre>
                {draft}
                {"\n"}
                {" ".repeat(error.start)}
                {"^".repeat(Math.max(1, error.end - error.start))}
              </pre>
            )}
          </div>
        )
      )}
    </div>
  );
}

// Aliases of an artifact version or a registered model version: chips, removable, and a field to
// add one. Each change sends the whole new list (PATCH replaces them), and the server moves an
// alias from whichever version held it.

import { useState } from "react";
import { aliasProblem } from "../api/artifacts";

export function AliasChips({ aliases }: { aliases: string[] }) {
  if (!aliases.length) return null;
  return (
    <span className="aliases">
      {aliases.map((a) => (
        <span key={a} className={`alias ${a === "latest" ? "latest" : ""}`}>
          {a}
        </span>
      ))}
    </span>
  );
}

/**
 * `fixed` aliases show but cannot be removed (`latest`, which follows the newest version);
 * `onSave` gets the new list without them and throws to say why it failed.
 */
export function AliasEditor({ aliases, fixed = ["latest"], editable, onSave, label }: { aliases: string[]; fixed?: string[]; editable: boolean; onSave: (next: string[]) => Promise<void>; label: string }) {
  const [adding, setAdding] = useState(false);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const own = aliases.filter((a) => !fixed.includes(a));
  const save = async (next: string[]) => {
    setBusy(true);
    setErr(null);
    try {
      await onSave(next);
      return true;
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const add = async () => {
    const a = text.trim();
    if (!a) return setAdding(false);
    if (aliases.includes(a)) {
      setText("");
      return setAdding(false);
    }
    const why = aliasProblem(a);
    if (why) return setErr(`${a}: ${why}`);
    if (await save([...own, a])) {
      setText("");
      setAdding(false);
    }
  };
  if (!editable) return aliases.length ? <AliasChips aliases={aliases} /> : <span className="muted small">no aliases</span>;
  return (
    <span className="aliases" role="group" aria-label={label}>
      {aliases.map((a) => (
        <span key={a} className={`alias ${fixed.includes(a) ? "latest" : ""}`}>
          {a}
          {!fixed.includes(a) && (
            <button className="x" aria-label={`remove alias ${a}`} title={`remove ${a}`} disabled={busy} onClick={() => void save(own.filter((o) => o !== a))}>
              ×
            </button>
          )}
        </span>
      ))}
      {adding ? (
        <input
          autoFocus
          className="alias-input"
          value={text}
          placeholder="alias, Enter"
          aria-label="new alias"
          disabled={busy}
          onChange={(e) => {
            setText(e.target.value);
            setErr(null);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") void add();
            if (e.key === "Escape") {
              setAdding(false);
              setText("");
              setErr(null);
            }
          }}
          onBlur={() => !text.trim() && setAdding(false)}
        />
      ) : (
        <button className="ghost add-alias" onClick={() => setAdding(true)} disabled={busy}>
          + alias
        </button>
      )}
      {err && (
        <span className="error small" role="alert">
          {err}
        </span>
      )}
    </span>
  );
}

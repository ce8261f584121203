// One colour per run, the same on every page and every load: picked from a palette by a hash of
// the run id (not by its row position, which changes with sort and filter).

/** 20 colours that stay apart on white and on the dark background. */
export const PALETTE = [
  "#2f6fdf", "#e5552e", "#1a9e55", "#a64bd6", "#d99a00",
  "#00a3b5", "#d6336c", "#6b8e23", "#7a5cff", "#c2571a",
  "#0f7b8a", "#b8860b", "#5470c6", "#e0457b", "#3ba272",
  "#9a60b4", "#fc8452", "#2b8cbe", "#8c6d31", "#c0392b",
] as const;

/** FNV-1a, 32 bits: fast, stable across browsers and sessions. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function runColor(runId: string): string {
  return PALETTE[hash(runId) % PALETTE.length];
}

/**
 * Colours for a set of runs shown together: each run keeps its own colour unless another run of
 * the set already has it, then the next free palette colour (in the order of `ids`). The first
 * run with a colour always keeps it, so adding a run to a selection never recolours the others.
 */
export function runColors(ids: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<number>();
  for (const id of ids) {
    if (out.has(id)) continue;
    let i = hash(id) % PALETTE.length;
    if (used.size < PALETTE.length) {
      while (used.has(i)) i = (i + 1) % PALETTE.length;
    }
    used.add(i);
    out.set(id, PALETTE[i]);
  }
  return out;
}

/** `#rrggbb` with an alpha, for faint raw lines and band fills. */
export function withAlpha(hex: string, alpha: number): string {
  const a = Math.round(Math.min(Math.max(alpha, 0), 1) * 255)
    .toString(16)
    .padStart(2, "0");
  return `${hex}${a}`;
}

// Console output as the log viewer shows it.

/** Console text as lines: ANSI colour codes dropped, a carriage return keeps what came after it
 * (progress bars redraw their line), like a terminal shows it. */
export function logLines(text: string): string[] {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "");
  const lines = clean.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop(); // the final newline ends a line
  return lines.map((l) => {
    const trimmed = l.endsWith("\r") ? l.slice(0, -1) : l;
    const cut = trimmed.lastIndexOf("\r");
    return cut >= 0 ? trimmed.slice(cut + 1) : trimmed;
  });
}


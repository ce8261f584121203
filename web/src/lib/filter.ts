// The filter bar's language, compiled to the Store's MongoDB-style filter (labbook.store.query):
//
//   config.lr > 1e-3 and summary.val_acc >= 0.9 and tags has "baseline" and state = finished
//
// Grammar (keywords are case-insensitive):
//   expr       := and ("or" and)*
//   and        := atom ("and" atom)*
//   atom       := "(" expr ")" | comparison
//   comparison := field ("=" | "==" | "!=" | ">" | ">=" | "<" | "<=") value
//               | field ["not"] "in" list        list := ("[" | "(") value ("," value)* ("]" | ")")
//               | field ["not"] "has" value      (tags)
//               | field ["not"] "exists"
//   field      := run attribute (state, name, tags, group, job_type, notes, created_at, ...)
//               | config.<path> | summary.<path> | metrics.<key>.<last|min|max|count|last_step>
//               | a bare key (lr) when exactly one of config.lr / summary.lr exists
//               | `any text in backticks` for keys with spaces or operators in them
//   value      := number | "string" | 'string' | true | false | null | bare word (finished, adam)
//
// Errors carry the character range they are about, so the bar can underline it.

export type Filter = { [field: string]: unknown };

export interface FilterError {
  message: string;
  start: number;
  end: number;
}

export type ParseResult = { ok: true; filter: Filter | null } | { ok: false; error: FilterError };

/** What the project's runs hold, to resolve bare keys and to suggest names in errors. */
export interface KnownKeys {
  config?: readonly string[];
  summary?: readonly string[];
  metrics?: readonly string[];
}

export const RUN_STATES = ["running", "finished", "failed", "crashed"] as const;
export const METRIC_STATS = ["last", "min", "max", "count", "last_step"] as const;

type Kind = "str" | "state" | "tags" | "time" | "int" | "num" | "json";

const ATTRIBUTES: Record<string, Kind> = {
  id: "str",
  name: "str",
  display_name: "str",
  state: "state",
  tags: "tags",
  group: "str",
  job_type: "str",
  notes: "str",
  created_at: "time",
  started_at: "time",
  finished_at: "time",
  heartbeat_at: "time",
  updated_at: "time",
  exit_code: "int",
};

/** The run attributes the filter takes (for completion lists). */
export const FILTER_ATTRIBUTES = Object.keys(ATTRIBUTES).filter((k) => k !== "display_name" && k !== "updated_at");

// ------------------------------------------------------------------------------------ tokens
type TokType = "word" | "string" | "quoted" | "op" | "lparen" | "rparen" | "lbracket" | "rbracket" | "comma" | "eof";

interface Token {
  type: TokType;
  text: string; // words: as written; strings: the decoded value
  start: number;
  end: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const WORD_CHAR = /[^\s()[\],=!<>"'`]/;

class Fail extends Error {
  constructor(
    message: string,
    public start: number,
    public end: number,
  ) {
    super(message);
  }
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    const single: Record<string, TokType> = { "(": "lparen", ")": "rparen", "[": "lbracket", "]": "rbracket", ",": "comma" };
    if (c in single) {
      out.push({ type: single[c], text: c, start, end: i + 1 });
      i++;
    } else if (c === "=" || c === "!" || c === "<" || c === ">") {
      const two = src.slice(i, i + 2);
      if (two === "==" || two === "!=" || two === ">=" || two === "<=") {
        out.push({ type: "op", text: two === "==" ? "=" : two, start, end: i + 2 });
        i += 2;
      } else if (c === "!") {
        throw new Fail("'!' must be followed by '=' (use != for 'not equal')", start, start + 1);
      } else {
        out.push({ type: "op", text: c, start, end: i + 1 });
        i++;
      }
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let text = "";
      for (;;) {
        if (j >= src.length) throw new Fail(`unclosed ${c === "`" ? "backtick" : "quote"} ${c}`, start, src.length);
        const d = src[j];
        if (d === "\\" && j + 1 < src.length) {
          const e = src[j + 1];
          text += e === "n" ? "\n" : e === "t" ? "\t" : e;
          j += 2;
          continue;
        }
        if (d === c) break;
        text += d;
        j++;
      }
      out.push({ type: c === "`" ? "quoted" : "string", text, start, end: j + 1 });
      i = j + 1;
    } else {
      let j = i;
      while (j < src.length && WORD_CHAR.test(src[j])) j++;
      out.push({ type: "word", text: src.slice(i, j), start, end: j });
      i = j;
    }
  }
  out.push({ type: "eof", text: "", start: src.length, end: src.length });
  return out;
}

// ------------------------------------------------------------------------------------ syntax
export type Node =
  | { kind: "and" | "or"; items: Node[]; start: number; end: number }
  | {
      kind: "cmp";
      field: string; // resolved store field
      fieldKind: Kind;
      op: "=" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "not in" | "has" | "not has" | "exists" | "not exists";
      value: unknown;
      start: number;
      end: number;
    };

const KEYWORDS = new Set(["and", "or", "not", "in", "has", "exists", "true", "false", "null"]);

function isKeyword(t: Token, kw: string): boolean {
  return t.type === "word" && t.text.toLowerCase() === kw;
}

class Parser {
  private i = 0;
  constructor(
    private toks: Token[],
    private keys: KnownKeys,
  ) {}

  private peek(): Token {
    return this.toks[this.i];
  }
  private next(): Token {
    return this.toks[this.i++];
  }

  parse(): Node {
    const node = this.or();
    const t = this.peek();
    if (t.type !== "eof") {
      if (t.type === "rparen") throw new Fail("unmatched ')'", t.start, t.end);
      throw new Fail(`expected 'and' or 'or' before '${t.text}'`, t.start, t.end);
    }
    return node;
  }

  private or(): Node {
    const first = this.and();
    const items = [first];
    while (isKeyword(this.peek(), "or")) {
      this.next();
      items.push(this.and());
    }
    return items.length === 1 ? first : { kind: "or", items, start: first.start, end: items[items.length - 1].end };
  }

  private and(): Node {
    const first = this.atom();
    const items = [first];
    while (isKeyword(this.peek(), "and")) {
      this.next();
      items.push(this.atom());
    }
    return items.length === 1 ? first : { kind: "and", items, start: first.start, end: items[items.length - 1].end };
  }

  private atom(): Node {
    const t = this.peek();
    if (t.type === "lparen") {
      this.next();
      const inner = this.or();
      const close = this.next();
      if (close.type !== "rparen") throw new Fail("expected ')'", close.start, Math.max(close.end, close.start + 1));
      return { ...inner, start: t.start, end: close.end };
    }
    if (t.type === "eof") throw new Fail("expected a condition such as config.lr > 0.001", t.start, t.end);
    if (isKeyword(t, "not")) {
      throw new Fail("'not' goes after the field: use !=, not in, not has or not exists", t.start, t.end);
    }
    return this.comparison();
  }

  private comparison(): Node {
    const ft = this.next();
    if (ft.type !== "word" && ft.type !== "quoted") {
      throw new Fail(`expected a field name, got '${ft.text}'`, ft.start, Math.max(ft.end, ft.start + 1));
    }
    if (ft.type === "word" && KEYWORDS.has(ft.text.toLowerCase())) {
      throw new Fail(`expected a field name, got the keyword '${ft.text}'`, ft.start, ft.end);
    }
    const { field, kind } = resolveField(ft, this.keys);
    const t = this.next();
    let negated = false;
    let opTok = t;
    if (isKeyword(t, "not")) {
      negated = true;
      opTok = this.next();
      if (!isKeyword(opTok, "in") && !isKeyword(opTok, "has") && !isKeyword(opTok, "exists")) {
        throw new Fail("'not' takes in, has or exists after it", opTok.start, Math.max(opTok.end, opTok.start + 1));
      }
    }
    const mk = (op: Extract<Node, { kind: "cmp" }>["op"], value: unknown, end: number): Node => {
      const node: Node = { kind: "cmp", field, fieldKind: kind, op, value, start: ft.start, end };
      checkTypes(node, ft, opTok);
      return node;
    };
    if (isKeyword(opTok, "exists")) return mk(negated ? "not exists" : "exists", true, opTok.end);
    if (isKeyword(opTok, "in")) {
      const { values, end } = this.list();
      return mk(negated ? "not in" : "in", values, end);
    }
    if (isKeyword(opTok, "has")) {
      const v = this.value();
      return mk(negated ? "not has" : "has", v.value, v.end);
    }
    if (opTok.type === "op") {
      const v = this.value();
      return mk(opTok.text as "=", v.value, v.end);
    }
    if (opTok.type === "eof") {
      throw new Fail(`expected an operator after ${ft.text} (=, !=, >, >=, <, <=, in, has, exists)`, ft.start, ft.end);
    }
    throw new Fail(
      `expected an operator (=, !=, >, >=, <, <=, in, has, exists), got '${opTok.text}'`,
      opTok.start,
      opTok.end,
    );
  }

  private list(): { values: unknown[]; end: number } {
    const open = this.next();
    if (open.type !== "lbracket" && open.type !== "lparen") {
      throw new Fail("'in' takes a list: [a, b, c]", open.start, Math.max(open.end, open.start + 1));
    }
    const closing: TokType = open.type === "lbracket" ? "rbracket" : "rparen";
    const values: unknown[] = [];
    if (this.peek().type === closing) {
      const c = this.next();
      throw new Fail("the list is empty", open.start, c.end);
    }
    for (;;) {
      values.push(this.value().value);
      const t = this.next();
      if (t.type === closing) return { values, end: t.end };
      if (t.type !== "comma") {
        throw new Fail(`expected ',' or '${closing === "rbracket" ? "]" : ")"}' in the list`, t.start, Math.max(t.end, t.start + 1));
      }
    }
  }

  private value(): { value: unknown; end: number } {
    const t = this.next();
    if (t.type === "string") return { value: t.text, end: t.end };
    if (t.type === "word") {
      const low = t.text.toLowerCase();
      if (low === "true" || low === "false") return { value: low === "true", end: t.end };
      if (low === "null") return { value: null, end: t.end };
      if (low === "and" || low === "or" || low === "in" || low === "has" || low === "not" || low === "exists") {
        throw new Fail(`expected a value, got the keyword '${t.text}' (quote it: "${t.text}")`, t.start, t.end);
      }
      if (NUMBER.test(t.text)) return { value: Number(t.text), end: t.end };
      return { value: new Bare(t.text), end: t.end };
    }
    if (t.type === "eof") throw new Fail("expected a value", t.start, t.end);
    throw new Fail(`expected a value, got '${t.text}'`, t.start, t.end);
  }
}

/** An unquoted word in value position: a string, kept apart so errors can suggest quoting. */
class Bare {
  constructor(public text: string) {}
}

function plain(v: unknown): unknown {
  if (v instanceof Bare) return v.text;
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function resolveField(t: Token, keys: KnownKeys): { field: string; kind: Kind } {
  const name = t.text;
  if (t.type === "word" && name in ATTRIBUTES) return { field: name === "display_name" ? "name" : name, kind: ATTRIBUTES[name] };
  const dot = name.indexOf(".");
  const root = dot > 0 ? name.slice(0, dot) : "";
  const rest = dot > 0 ? name.slice(dot + 1) : "";
  if ((root === "config" || root === "summary" || root === "summary_metrics") && rest) {
    if (rest.split(".").some((p) => !p)) throw new Fail(`'${name}' has an empty path element`, t.start, t.end);
    return { field: `${root === "summary_metrics" ? "summary" : root}.${rest}`, kind: "json" };
  }
  if (root === "metrics" && rest) {
    const cut = rest.lastIndexOf(".");
    const stat = cut > 0 ? rest.slice(cut + 1) : "";
    if (cut <= 0 || !(METRIC_STATS as readonly string[]).includes(stat)) {
      throw new Fail(`use metrics.<key>.<stat> with stat one of ${METRIC_STATS.join(", ")}`, t.start, t.end);
    }
    return { field: name, kind: stat === "count" || stat === "last_step" ? "int" : "num" };
  }
  // A bare key: config.<key> or summary.<key>, when the project's runs say which.
  const inConfig = keys.config?.includes(name) ?? false;
  const inSummary = keys.summary?.includes(name) ?? false;
  if (inConfig && inSummary) {
    throw new Fail(`'${name}' is both config.${name} and summary.${name}: write which`, t.start, t.end);
  }
  if (inConfig) return { field: `config.${name}`, kind: "json" };
  if (inSummary) return { field: `summary.${name}`, kind: "json" };
  const hint = suggest(name, keys);
  throw new Fail(
    `unknown field '${name}'${hint ? `; did you mean ${hint}?` : ""} (use a run attribute such as state or tags, config.<key>, summary.<key> or metrics.<key>.<stat>)`,
    t.start,
    t.end,
  );
}

function suggest(name: string, keys: KnownKeys): string | null {
  const candidates = [
    ...FILTER_ATTRIBUTES,
    ...(keys.config ?? []).map((k) => `config.${k}`),
    ...(keys.summary ?? []).map((k) => `summary.${k}`),
  ];
  let best: string | null = null;
  let bestD = Infinity;
  const low = name.toLowerCase();
  for (const c of candidates) {
    const tail = c.includes(".") ? c.slice(c.indexOf(".") + 1).toLowerCase() : c.toLowerCase();
    const d = distance(low, tail);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : null;
}

/** Levenshtein distance (short strings only: field names). */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

function checkTypes(node: Extract<Node, { kind: "cmp" }>, ft: Token, opTok: Token): void {
  const { fieldKind: kind, op } = node;
  const at = (msg: string): never => {
    throw new Fail(msg, ft.start, node.end);
  };
  const values = Array.isArray(node.value) ? node.value : [node.value];
  const ordering = op === ">" || op === ">=" || op === "<" || op === "<=";
  if ((op === "has" || op === "not has") && kind !== "tags") {
    throw new Fail(`'has' is for tags; use = or in for ${ft.text}`, opTok.start, opTok.end);
  }
  if (kind === "tags") {
    if (ordering) throw new Fail(`tags take has, not has, in, not in or exists (not ${op})`, opTok.start, opTok.end);
    for (const v of values) if (op !== "exists" && op !== "not exists" && !isText(v)) at(`a tag is text: quote it ("${String(plain(v))}")`);
    return;
  }
  if (kind === "state") {
    if (ordering) throw new Fail(`state takes =, !=, in or not in (not ${op})`, opTok.start, opTok.end);
    for (const v of values) {
      const s = plain(v);
      if (op !== "exists" && op !== "not exists" && !(RUN_STATES as readonly unknown[]).includes(s)) {
        at(`state is one of ${RUN_STATES.join(", ")}; got ${JSON.stringify(s)}`);
      }
    }
    return;
  }
  if (kind === "int" || kind === "num") {
    for (const v of values) {
      if (op !== "exists" && op !== "not exists" && typeof v !== "number" && v !== null) at(`${ft.text} is a number; got ${JSON.stringify(plain(v))}`);
      if (ordering && v === null) at(`${op} needs a number, not null`);
    }
    return;
  }
  if (kind === "time") {
    for (const v of values) {
      if (op === "exists" || op === "not exists" || v === null) continue;
      const s = plain(v);
      if (typeof s === "number") continue;
      if (typeof s !== "string" || Number.isNaN(Date.parse(s))) at(`${ft.text} takes a time such as "2025-01-31" or "2025-01-31T12:00"`);
    }
    return;
  }
  if (ordering) {
    for (const v of values) if (v === null || typeof v === "boolean") at(`${op} needs a number or a string, not ${JSON.stringify(v)}`);
  }
}

function isText(v: unknown): boolean {
  return typeof v === "string" || v instanceof Bare;
}

// ---------------------------------------------------------------------------------- compiler
const OPS: Record<string, string> = { "=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", in: "$in", "not in": "$nin" };

function valueFor(kind: Kind, v: unknown): unknown {
  const p = plain(v);
  if (kind === "str" && typeof p === "number") return String(p); // name = 123 means the text
  if (kind === "time" && typeof p === "string" && !/[zZ]|[+-]\d\d:?\d\d$/.test(p) && /T|\d:\d/.test(p)) {
    // A time without a zone is the viewer's local time (as the table shows times).
    return new Date(p).toISOString();
  }
  return p;
}

function compileCmp(n: Extract<Node, { kind: "cmp" }>): Filter {
  const v = Array.isArray(n.value) ? n.value.map((x) => valueFor(n.fieldKind, x)) : valueFor(n.fieldKind, n.value);
  switch (n.op) {
    case "exists":
      return { [n.field]: { $exists: true } };
    case "not exists":
      return { [n.field]: { $exists: false } };
    case "has":
      return { [n.field]: v };
    case "not has":
      return { [n.field]: { $ne: v } };
    case "=":
      if (n.fieldKind === "tags") return { [n.field]: v };
      return { [n.field]: v !== null && typeof v === "object" ? { $eq: v } : v };
    default:
      return { [n.field]: { [OPS[n.op]]: v } };
  }
}

export function compileNode(n: Node): Filter {
  if (n.kind === "cmp") return compileCmp(n);
  const parts = n.items.map(compileNode);
  if (n.kind === "or") return { $or: parts };
  // "and" of conditions on distinct fields reads best as one object; else $and keeps them apart.
  const merged: Filter = {};
  for (const p of parts) {
    for (const k of Object.keys(p)) {
      if (k in merged) return { $and: parts };
      merged[k] = p[k];
    }
  }
  return merged;
}

/** Parse and compile `src`; an empty text is no filter (`null`). */
export function parseFilter(src: string, keys: KnownKeys = {}): ParseResult {
  if (!src.trim()) return { ok: true, filter: null };
  try {
    const toks = tokenize(src);
    const node = new Parser(toks, keys).parse();
    return { ok: true, filter: compileNode(node) };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: { message: e.message, start: e.start, end: Math.max(e.end, e.start) } };
    throw e;
  }
}

/** A field name as the language writes it (backticks when it would not read back as one word). */
export function quoteField(field: string): string {
  return /^[^\s()[\],=!<>"'`]+$/.test(field) && !KEYWORDS.has(field.toLowerCase()) ? field : `\`${field.replace(/[`\\]/g, "\\$&")}\``;
}

/** A value as the language writes it: numbers and simple words bare, other text quoted. */
export function quoteValue(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  const s = String(v);
  return /^[A-Za-z_][A-Za-z0-9_\-./]*$/.test(s) && !KEYWORDS.has(s.toLowerCase()) && !NUMBER.test(s) ? s : JSON.stringify(s);
}

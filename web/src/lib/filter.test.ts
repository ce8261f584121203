import { describe, expect, it } from "vitest";
import { distance, parseFilter, quoteField, quoteValue, tokenize } from "./filter";

const keys = { config: ["lr", "batch_size", "optimizer", "my key"], summary: ["val_acc", "val/loss", "lr_final"], metrics: ["val/loss"] };

function ok(src: string) {
  const r = parseFilter(src, keys);
  if (!r.ok) throw new Error(`${src}: ${r.error.message} at ${r.error.start}-${r.error.end}`);
  return r.filter;
}

function err(src: string) {
  const r = parseFilter(src, keys);
  if (r.ok) throw new Error(`${src} parsed: ${JSON.stringify(r.filter)}`);
  return r.error;
}

describe("the filter language", () => {
  it("compiles the example of the issue", () => {
    expect(ok('config.lr > 1e-3 and summary.val_acc >= 0.9 and tags has "baseline" and state = finished')).toEqual({
      "config.lr": { $gt: 0.001 },
      "summary.val_acc": { $gte: 0.9 },
      tags: "baseline",
      state: "finished",
    });
  });
  it("is empty for blank input", () => {
    expect(ok("")).toBeNull();
    expect(ok("   ")).toBeNull();
  });
  it("knows every comparison operator", () => {
    expect(ok("config.lr = 0.1")).toEqual({ "config.lr": 0.1 });
    expect(ok("config.lr == 0.1")).toEqual({ "config.lr": 0.1 });
    expect(ok("config.lr != 0.1")).toEqual({ "config.lr": { $ne: 0.1 } });
    expect(ok("config.lr<0.1")).toEqual({ "config.lr": { $lt: 0.1 } });
    expect(ok("config.lr <= -2")).toEqual({ "config.lr": { $lte: -2 } });
    expect(ok("config.optimizer in [adam, 'sgd', \"rms prop\"]")).toEqual({ "config.optimizer": { $in: ["adam", "sgd", "rms prop"] } });
    expect(ok("config.batch_size not in (32, 64)")).toEqual({ "config.batch_size": { $nin: [32, 64] } });
    expect(ok("summary.val_acc exists")).toEqual({ "summary.val_acc": { $exists: true } });
    expect(ok("summary.val_acc not exists")).toEqual({ "summary.val_acc": { $exists: false } });
    expect(ok("tags not has wip")).toEqual({ tags: { $ne: "wip" } });
    expect(ok("tags in [a, b]")).toEqual({ tags: { $in: ["a", "b"] } });
  });
  it("reads values by type", () => {
    expect(ok("config.flag = true")).toEqual({ "config.flag": true });
    expect(ok("config.flag = FALSE")).toEqual({ "config.flag": false });
    expect(ok("config.note = null")).toEqual({ "config.note": null });
    expect(ok('config.optimizer = "and"')).toEqual({ "config.optimizer": "and" });
    expect(ok("config.x = .5")).toEqual({ "config.x": 0.5 });
    expect(ok("config.x = 1E+3")).toEqual({ "config.x": 1000 });
    expect(ok("name = 123")).toEqual({ name: "123" });
    expect(ok("name = run-7")).toEqual({ name: "run-7" });
    expect(ok(String.raw`name = "a \"b\""`)).toEqual({ name: 'a "b"' });
  });
  it("combines with and/or and parentheses; or binds looser than and", () => {
    expect(ok("state = running or state = crashed")).toEqual({ $or: [{ state: "running" }, { state: "crashed" }] });
    expect(ok("config.lr > 0.1 and state = failed or tags has x")).toEqual({
      $or: [{ "config.lr": { $gt: 0.1 }, state: "failed" }, { tags: "x" }],
    });
    expect(ok("config.lr > 0.1 AND (state = failed OR tags has x)")).toEqual({
      "config.lr": { $gt: 0.1 },
      $or: [{ state: "failed" }, { tags: "x" }],
    });
  });
  it("keeps two conditions on one field apart with $and", () => {
    expect(ok("config.lr > 0.1 and config.lr < 1")).toEqual({ $and: [{ "config.lr": { $gt: 0.1 } }, { "config.lr": { $lt: 1 } }] });
  });
  it("resolves bare keys against the project's keys", () => {
    expect(ok("lr > 1e-3")).toEqual({ "config.lr": { $gt: 0.001 } });
    expect(ok("val/loss < 0.5")).toEqual({ "summary.val/loss": { $lt: 0.5 } });
    expect(ok("`my key` = 3")).toEqual({ "config.my key": 3 });
    expect(ok("`config.my key` = 3")).toEqual({ "config.my key": 3 });
  });
  it("takes metric statistics", () => {
    expect(ok("metrics.val/loss.min < 0.2")).toEqual({ "metrics.val/loss.min": { $lt: 0.2 } });
    expect(ok("metrics.a.b.count >= 10")).toEqual({ "metrics.a.b.count": { $gte: 10 } });
  });
  it("takes times as dates or local times", () => {
    expect(ok("created_at > 2025-01-31")).toEqual({ created_at: { $gt: "2025-01-31" } });
    const local = new Date(2025, 0, 31, 12, 0).toISOString();
    expect(ok('created_at >= "2025-01-31T12:00"')).toEqual({ created_at: { $gte: local } });
    expect(ok("created_at < 2025-01-31T00:00:00Z")).toEqual({ created_at: { $lt: "2025-01-31T00:00:00Z" } });
  });
});

describe("errors point at what is wrong", () => {
  it("an unknown field, with a suggestion", () => {
    const e = err("config.lr > 1 and lrr > 2");
    expect(e.start).toBe(18);
    expect(e.end).toBe(21);
    expect(e.message).toContain("unknown field 'lrr'");
    expect(e.message).toContain("config.lr");
  });
  it("a bare key both in config and summary", () => {
    const e = parseFilter("lr > 1", { config: ["lr"], summary: ["lr"] });
    expect(e.ok).toBe(false);
    if (!e.ok) expect(e.error.message).toContain("write which");
  });
  it("a missing value", () => {
    const e = err("config.lr >");
    expect(e.message).toBe("expected a value");
    expect(e.start).toBe(11);
  });
  it("a missing operator", () => {
    const e = err("config.lr 3");
    expect(e.message).toContain("expected an operator");
    expect([e.start, e.end]).toEqual([10, 11]);
  });
  it("a dangling and", () => {
    const e = err("state = running and");
    expect(e.message).toContain("expected a condition");
    expect(e.start).toBe(19);
  });
  it("an unclosed string and parenthesis", () => {
    expect(err('name = "abc').message).toContain("unclosed quote");
    const p = err("(state = running");
    expect(p.message).toBe("expected ')'");
    expect(p.start).toBe(16);
    expect(err("state = running)").message).toBe("unmatched ')'");
  });
  it("a bad state and a bad tag comparison", () => {
    const s = err("state = finishd");
    expect(s.message).toContain("state is one of running, finished, failed, crashed");
    expect([s.start, s.end]).toEqual([0, 15]);
    const t = err("tags > 3");
    expect(t.message).toContain("tags take has");
    expect([t.start, t.end]).toEqual([5, 6]);
    expect(err("config.lr has 3").message).toContain("'has' is for tags");
  });
  it("numbers where numbers belong", () => {
    expect(err("metrics.loss.min < low").message).toContain("is a number");
    expect(err("metrics.loss.median < 1").message).toContain("stat one of");
    expect(err("exit_code = x").message).toContain("is a number");
    expect(err("created_at > yesterday").message).toContain("takes a time");
    expect(err("config.lr > true").message).toContain("needs a number or a string");
  });
  it("a leading not, a lone !, an empty list, two conditions without and", () => {
    expect(err("not state = running").message).toContain("'not' goes after the field");
    expect(err("config.lr ! 3").message).toContain("'!' must be followed by '='");
    expect(err("config.lr in []").message).toBe("the list is empty");
    const two = err("state = running tags has a");
    expect(two.message).toContain("expected 'and' or 'or'");
    expect(two.start).toBe(16);
  });
});

describe("helpers", () => {
  it("tokenizes with positions", () => {
    const t = tokenize("a>=1");
    expect(t.map((x) => [x.type, x.text, x.start, x.end])).toEqual([
      ["word", "a", 0, 1],
      ["op", ">=", 1, 3],
      ["word", "1", 3, 4],
      ["eof", "", 4, 4],
    ]);
  });
  it("quotes fields and values so they read back", () => {
    expect(quoteField("config.lr")).toBe("config.lr");
    expect(quoteField("config.my key")).toBe("`config.my key`");
    expect(quoteValue("adam")).toBe("adam");
    expect(quoteValue("rms prop")).toBe('"rms prop"');
    expect(quoteValue("and")).toBe('"and"');
    expect(quoteValue("12")).toBe('"12"');
    expect(quoteValue(0.5)).toBe("0.5");
    for (const v of ["adam", "rms prop", "and", "12", 0.5, true, null]) {
      const f = parseFilter(`${quoteField("config.my key")} = ${quoteValue(v)}`);
      expect(f.ok && f.filter).toEqual({ "config.my key": v });
    }
  });
  it("measures edit distance", () => {
    expect(distance("lr", "lr")).toBe(0);
    expect(distance("lrr", "lr")).toBe(1);
    expect(distance("kitten", "sitting")).toBe(3);
  });
});

import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes, formatDate, formatShortDate, formatTicks, formatDuration, formatInt, formatNumber, formatValue, num } from "./format";

describe("formatNumber", () => {
  it("keeps integers whole", () => {
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(42)).toBe("42");
    expect(formatNumber(-7)).toBe("-7");
    expect(formatNumber(1234567)).toBe("1,234,567");
  });
  it("rounds to significant digits and drops trailing zeros", () => {
    expect(formatNumber(0.123456)).toBe("0.1235");
    expect(formatNumber(3.1)).toBe("3.1");
    expect(formatNumber(0.5)).toBe("0.5");
    expect(formatNumber(12345.678)).toBe("12350");
    expect(formatNumber(0.98765, 2)).toBe("0.99");
  });
  it("uses exponents for tiny and huge values", () => {
    expect(formatNumber(1e-4)).toBe("1e-4");
    expect(formatNumber(0.00015)).toBe("1.5e-4");
    expect(formatNumber(-2.5e-7)).toBe("-2.5e-7");
    expect(formatNumber(3.25e9 + 0.5)).toBe("3.25e9");
  });
  it("spells non-finite values", () => {
    expect(formatNumber(NaN)).toBe("NaN");
    expect(formatNumber(Infinity)).toBe("∞");
    expect(formatNumber(-Infinity)).toBe("-∞");
  });
});

describe("formatValue", () => {
  it("reads the JSON spelling of non-finite floats as numbers", () => {
    expect(formatValue("NaN")).toBe("NaN");
    expect(formatValue("Infinity")).toBe("∞");
    expect(formatValue({ $float: "-inf" })).toBe("-∞");
  });
  it("shows other values plainly", () => {
    expect(formatValue(null)).toBe("");
    expect(formatValue(true)).toBe("true");
    expect(formatValue("adam")).toBe("adam");
    expect(formatValue([1, 0.5])).toBe("[1, 0.5]");
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    expect(formatValue({ _type: "image", path: "x.png" })).toBe("‹image›");
    expect(formatValue({ _type: "list", items_type: "image", items: [{}, {}] })).toBe("‹2 × image›");
  });
});

describe("formatDuration", () => {
  it("uses the two largest units", () => {
    expect(formatDuration(0.25)).toBe("250ms");
    expect(formatDuration(4.25)).toBe("4.3s");
    expect(formatDuration(42.9)).toBe("42s");
    expect(formatDuration(185)).toBe("3m 05s");
    expect(formatDuration(7800)).toBe("2h 10m");
    expect(formatDuration(3 * 86400 + 4 * 3600 + 59)).toBe("3d 4h");
  });
  it("is empty for missing values", () => {
    expect(formatDuration(null)).toBe("");
    expect(formatDuration(NaN)).toBe("");
  });
});

describe("dates", () => {
  it("formats local times", () => {
    const d = new Date(2025, 2, 1, 14, 5, 9);
    expect(formatDate(d.toISOString())).toBe("2025-03-01 14:05");
    expect(formatDate(d.getTime() / 1000, true)).toBe("2025-03-01 14:05:09");
    expect(formatDate(null)).toBe("");
    expect(formatDate("not a date")).toBe("");
  });
  it("is compact in tables", () => {
    const now = new Date(2025, 5, 1);
    expect(formatShortDate(new Date(2025, 2, 1, 14, 5).toISOString(), now)).toBe("03-01 14:05");
    expect(formatShortDate(new Date(2024, 2, 1, 14, 5).toISOString(), now)).toBe("2024-03-01");
  });
  it("says how long ago", () => {
    const now = Date.parse("2025-03-10T12:00:00Z");
    expect(formatAgo("2025-03-10T11:59:50Z", now)).toBe("just now");
    expect(formatAgo("2025-03-10T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo("2025-03-10T09:00:00Z", now)).toBe("3 h ago");
    expect(formatAgo("2025-03-09T12:00:00Z", now)).toBe("1 day ago");
    expect(formatAgo("2025-03-07T12:00:00Z", now)).toBe("3 days ago");
  });
});

describe("counts and sizes", () => {
  it("formats", () => {
    expect(formatInt(1000)).toBe("1,000");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(64 * 1024 * 1024)).toBe("64 MiB");
  });
  it("reads numbers from JSON", () => {
    expect(num(1.5)).toBe(1.5);
    expect(num("NaN")).toBeNaN();
    expect(num("-Infinity")).toBe(-Infinity);
    expect(num({ $float: "inf" })).toBe(Infinity);
    expect(num("x")).toBeNull();
    expect(num(null)).toBeNull();
  });
});

describe("axis ticks", () => {
  it("keep neighbouring ticks apart", () => {
    expect(formatTicks([28.9, 28.92, 28.94, 28.96])).toEqual(["28.9", "28.92", "28.94", "28.96"]);
    expect(formatTicks([0, 0.25, 0.5, 0.75, 1])).toEqual(["0", "0.25", "0.5", "0.75", "1"]);
    expect(formatTicks([0.001, 0.0012, 0.0014])).toEqual(["0.001", "0.0012", "0.0014"]);
    expect(formatTicks([1e-4, 1.2e-4])).toEqual(["1e-4", "1.2e-4"]);
    expect(formatTicks([0, 500000, 1000000])).toEqual(["0", "500000", "1,000,000"]);
    expect(formatTicks([-1e-17, 0.5, 1])).toEqual(["0", "0.5", "1"]);
  });
});

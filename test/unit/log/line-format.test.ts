import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as winston from "winston";
import { LEVEL, MESSAGE } from "triple-beam";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { formatLine, jsonLine } from "../../../src/log/line-format";
import { createLogger } from "../../../src/log/logger";

/** The format chain the relay's log lines were defined by: every line must keep its bytes. */
const reference = winston.format.combine(
  winston.format.timestamp(),
  winston.format((info) => {
    if (info.message === "") delete (info as { message?: unknown }).message;
    return info;
  })(),
  winston.format.json(),
);

function viaReference(info: Record<string, unknown>): string {
  const out = reference.transform({ ...info } as winston.Logform.TransformableInfo, {}) as Record<string | symbol, unknown>;
  return String(out[MESSAGE]);
}

const strings = ["", "plain", 'quote " and \\ backslash', "new\nline\ttab\u0000nul\u001f", "é ünïcode ✓ 😀", "lone \ud800 surrogate", "\udc00", "x".repeat(6000), "</script>"];

describe("log lines: one pass, the same bytes as winston's timestamp + json chain", { timeout: 10_000 }, () => {
  it("flat lines, every kind of value a session's lines carry", () => {
    const cases: Record<string, unknown>[] = [
      { level: "info", message: "", event: "paired", module: "relay", a: "0.user1", b: "1.user1", tag: "t", route: "r", waited_ms: 3 },
      { level: "info", message: "", event: "closed", session: "1z", bytes_a_to_b: 0, bytes_b_to_a: 123456789012, duration_ms: 0.5, how: "done", reason: undefined },
      { level: "warn", message: "kept", event: "x", n: null, t: true, f: false, nan: NaN, inf: -Infinity, negZero: -0, big: 1e21, tiny: 5e-324, fn: () => 1, sym: Symbol("s") },
      { level: "error", message: "", event: "e", Zeta: 1, _under: 2, alpha: 3, "key \"q\"": 4, "ключ": 5, "10": 6, "9": 7 },
    ];
    for (const [i, s] of strings.entries()) cases.push({ level: "info", message: "", event: "s", value: s, [s || "empty"]: i });
    for (const c of cases) {
      const withTime = { ...c, timestamp: "2026-12-02T05:00:00.000Z" };
      assert.equal(formatLine({ ...withTime }), viaReference(withTime), JSON.stringify(Object.keys(c)));
    }
  });

  it("nested values, arrays and bigints: the same bytes too", () => {
    const c = { level: "info", message: "", event: "n", timestamp: "t", o: { z: 1, a: [3, { y: 1, b: 2 }], u: undefined }, list: ["b", "a"], big: 12n, d: new Date(0) };
    assert.equal(formatLine({ ...c }), viaReference(c));
  });

  it("adds an ISO timestamp when the line has none, and keeps one it has", () => {
    const line = JSON.parse(formatLine({ level: "info", message: "", event: "x" })) as Record<string, unknown>;
    assert.match(String(line["timestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(line), ["event", "level", "timestamp"]);
    assert.equal((JSON.parse(formatLine({ level: "info", event: "x", timestamp: "given" })) as Record<string, unknown>)["timestamp"], "given");
  });

  it("is what the logger's format writes", () => {
    const info = { level: "info", [LEVEL]: "info", message: "", event: "waiting", identity: "0.user1", timestamp: "t" };
    const out = jsonLine.transform({ ...info }, {}) as Record<string | symbol, unknown>;
    assert.equal(out[MESSAGE], viaReference(info));
  });
});

describe("the relay's logger: lines as a reader of the log file sees them", { timeout: 10_000 }, () => {
  it("a message field is the line's message as given, with no leading space; lines without one carry none", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-log-"));
    const file = path.join(dir, "frelay.log");
    const handle = createLogger({ level: "info", file, stdout: false });
    handle.logger.warn("fd_limit", { limit: 10, message: "open-file limit is 10" });
    handle.logger.info("paired", { a: "0.user1" });
    await handle.close();
    const lines = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines[0]!["message"], "open-file limit is 10");
    assert.equal(lines[0]!["event"], "fd_limit");
    assert.equal(lines[0]!["limit"], 10);
    assert.ok(!("message" in lines[1]!), JSON.stringify(lines[1]));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

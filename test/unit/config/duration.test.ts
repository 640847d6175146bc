import { it } from "node:test";
import * as assert from "node:assert/strict";
import { parseDuration } from "../../../src/config/duration";
import { parseHostPort } from "../../../src/config/address";
import { lineOfPath } from "../../../src/config/json-lines";

it("durations are strict: a number and a unit of ms, s, m or h", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0s"), 0);
  for (const bad of ["5", "5 minutes", "1.5s", "-1s", "05s", "s", "1d"]) assert.throws(() => parseDuration(bad), /is not a duration/, bad);
});

it("addresses: host:port, [v6]:port, unix paths where allowed", () => {
  assert.deepEqual(parseHostPort("0.0.0.0:6000"), { kind: "tcp", host: "0.0.0.0", port: 6000, text: "0.0.0.0:6000" });
  assert.deepEqual(parseHostPort("[::1]:7"), { kind: "tcp", host: "::1", port: 7, text: "[::1]:7" });
  assert.equal(parseHostPort("/run/frelay.sock", true).valueOf() instanceof Object, true);
  assert.equal(typeof parseHostPort("/run/frelay.sock"), "string");
  assert.equal(typeof parseHostPort("host:70000"), "string");
  assert.equal(typeof parseHostPort("::1:80"), "string");
});

it("finds the line of a JSON path", () => {
  const text = '{\n  "a": 1,\n  "b": {\n    "c": [\n      "x",\n      "y"\n    ]\n  }\n}';
  assert.equal(lineOfPath(text, ["a"]), 2);
  assert.equal(lineOfPath(text, ["b", "c", 1]), 6);
  assert.equal(lineOfPath(text, ["missing"]), undefined);
});

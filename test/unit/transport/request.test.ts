import { it } from "node:test";
import * as assert from "node:assert/strict";
import { RequestScanner } from "../../../src/transport/request";

const feed = (pieces: string[]) => {
  const s = new RequestScanner();
  let last: ReturnType<RequestScanner["push"]> = { kind: "incomplete" };
  for (const p of pieces) last = s.push(Buffer.from(p));
  return last;
};

it("finds the request's end across pieces, through strings with braces and escapes", () => {
  assert.deepEqual(feed(['{"DestParty":"1.u', 'ser1","Tag":"a}\\"{b"', "}"]), { kind: "complete", dest: "1.user1", tag: 'a}"{b' });
  assert.deepEqual(feed(['  {"DestParty":"1.user1"}\n']), { kind: "complete", dest: "1.user1", tag: "" });
  assert.deepEqual(feed(['{"DestParty":"1.user1","Tag":null,"X":[{"y":"]"}]}']), { kind: "complete", dest: "1.user1", tag: "" });
  assert.equal(feed(['{"DestParty":"1.user1"']).kind, "incomplete");
});

it("refuses what is not a request, with the reason", () => {
  const reason = (p: string[]) => {
    const r = feed(p);
    return r.kind === "error" ? r.reason : r.kind;
  };
  assert.match(reason(["GET /"]), /not a JSON object/);
  assert.match(reason(['{"DestParty":1}']), /DestParty must be an identity/);
  assert.match(reason(['{"DestParty":"a..b"}']), /DestParty must be an identity/);
  assert.match(reason(['{"DestParty":"1.user1"} x']), /data after the request/);
  assert.match(reason(['{"DestParty":"1.user1","Tag":"', "x".repeat(5000)]), /larger than 4096 bytes/);
  assert.match(reason(['{"DestParty":"1.user1",}']), /invalid JSON/);
});

it("decides a request that arrives whole exactly as one that arrives in pieces", () => {
  // A whole request takes the JSON.parse shortcut; split after its first byte, it cannot, so
  // the byte-by-byte scan decides it: the two must agree on every input, good or bad.
  const inputs = [
    '{"DestParty":"1.user1","Tag":"t"}',
    ' \t\r\n{"DestParty":"1.user1"} \n',
    '{"DestParty":"1.user1","Tag":null,"X":[{"y":"]"}]}',
    '{"DestParty":"1.user1","Tag":"a}\\"{b"}',
    '{"DestParty":"1.user1"}\u00a0',
    '{"DestParty":"1.user1"}\v',
    '\ufeff{"DestParty":"1.user1"}',
    '{"DestParty":"1.user1"}{}',
    '{"DestParty":"1.user1"} x',
    '{"DestParty":"1.user1",}',
    '{"DestParty":1}',
    '{"DestParty":"1.user1","Tag":5}',
    '["DestParty"]',
    "null",
    '"{}"',
    "{}",
    '{"DestParty":"1.user1"',
    `{"DestParty":"1.user1","Tag":"${"x".repeat(5000)}"}`,
  ];
  for (const text of inputs) {
    const bytes = Buffer.from(text);
    const whole = new RequestScanner().push(bytes);
    const split = new RequestScanner();
    const head = split.push(bytes.subarray(0, 1));
    const pieces = head.kind !== "incomplete" ? head : split.push(bytes.subarray(1));
    assert.deepEqual(whole, pieces, `input ${JSON.stringify(text)}`);
  }
});

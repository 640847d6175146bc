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

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { REPO_ROOT, suiteRelay, type RunningRelay } from "../helpers/cli";
import { requireTool } from "../helpers/require-tool";
import { readAll, sha256 } from "../helpers/streams";

const PYTHON = "python3";
const SCRIPT = path.join(REPO_ROOT, "test", "interop", "flock_party.py");

/** Runs the Python party; resolves with its stdout (what the peer sent) and the mode it got. */
function pythonParty(fx: Fixture, identity: string, dest: string, relay: string, input: Buffer): Promise<{ out: Buffer; stderr: string; code: number | null }> {
  const s = fx.party(identity, dest, relay);
  const env = { ...process.env, RELAY: relay, RELAY_CA: s.relayCa, RELAY_CERT: s.relayCert, RELAY_KEY: s.relayKey, USER_CA: s.userCa, PARTY_CERT: s.partyCert, PARTY_KEY: s.partyKey, DEST: dest };
  const child = spawn(PYTHON, [SCRIPT], { env });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  const out = readAll(child.stdout, 30000);
  return new Promise((resolve, reject) => {
    child.on("close", (code) => void out.then((o) => resolve({ out: o, stderr, code }), reject));
  });
}

describe("interop: a party built on Python's ssl.MemoryBIO, not on frelay's client", { skip: requireTool(PYTHON) }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(async () => {
    await close();
  });

  for (const pythonWaits of [true, false]) {
    it(`hand-off is byte-exact with the Python party as ${pythonWaits ? "waiter (Mode 2, e2e TLS client)" : "late arrival (Mode 1, e2e TLS server)"}`, async () => {
      const fromPython = crypto.randomBytes(1024 * 1024 + 3);
      const fromNode = crypto.randomBytes(512 * 1024 + 5);
      const mark = relay.events.length;
      const waited = () => relay.waitFor((e) => e["event"] === "waiting" && relay.events.indexOf(e) >= mark);
      const nodeParty = () => connect({ ...fx.party("1.user1", "0.user1", relay.address), timeoutMs: 20000 });
      let py: ReturnType<typeof pythonParty>;
      let nodeSide: ReturnType<typeof nodeParty>;
      if (pythonWaits) {
        py = pythonParty(fx, "0.user1", "1.user1", relay.address, fromPython);
        await waited();
        nodeSide = nodeParty();
      } else {
        nodeSide = nodeParty();
        await waited();
        py = pythonParty(fx, "0.user1", "1.user1", relay.address, fromPython);
      }
      const { socket, mode } = await nodeSide;
      const fromPy = await readAll(socket);
      assert.equal(sha256(fromPy), sha256(fromPython));
      socket.end(fromNode);
      const r = await py;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha256(r.out), sha256(fromNode));
      assert.match(r.stderr, new RegExp(`mode ${mode === 1 ? 2 : 1}`));
    });
  }
});

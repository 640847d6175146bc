import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { controlRequest } from "../../src/daemon/control-client";
import { pair } from "../helpers/raw-party";
import { readAll, sha256 } from "../helpers/streams";

describe("a thousand reloads under traffic", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(() => close());

  it("every byte of every session arrives intact while the config flips 1000 times", async () => {
    const socket = path.join(fx.dir, "frelay.sock");
    // Sessions on unchanged routes stream both ways for the whole storm.
    const sessions = await Promise.all([
      pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address)),
      pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address)),
    ]);
    const payloads = sessions.map(() => [crypto.randomBytes(8 * 1024 * 1024), crypto.randomBytes(6 * 1024 * 1024)] as const);
    const received = sessions.map(([a, b]) => [readAll(b.socket, 120_000), readAll(a.socket, 120_000)] as const);
    const writers = sessions.map(([a, b], i) =>
      Promise.all(
        [a, b].map(async (side, dir) => {
          const data = payloads[i]![dir]!;
          for (let off = 0; off < data.length; off += 64 * 1024) {
            if (!side.socket.write(data.subarray(off, off + 64 * 1024))) await new Promise((r) => side.socket.once("drain", r));
          }
          side.socket.end();
        }),
      ),
    );

    // Alternate two real configs (an extra route and a log level differ) so each reload applies.
    const base = JSON.parse(fs.readFileSync(fx.configFile, "utf8")) as { routes: unknown[]; log: object };
    const variants = [
      JSON.stringify(base, null, 2),
      JSON.stringify({ ...base, routes: [...base.routes, { between: ["x.user9", "y.user9"] }], log: { level: "info" } }, null, 2),
    ];
    let reloaded = 0;
    for (let i = 0; i < 1000; i++) {
      fs.writeFileSync(fx.configFile, variants[i % 2]!);
      const r = await controlRequest(socket, "POST", "/reload");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if ((r.body as { message: string }).message === "reloaded") reloaded++;
    }
    assert.ok(reloaded >= 900, `most reloads applied a change (${reloaded})`);

    await Promise.all(writers);
    for (let i = 0; i < sessions.length; i++) {
      const [toB, toA] = received[i]!;
      assert.equal(sha256(await toB), sha256(payloads[i]![0]), `session ${i} a→b`);
      assert.equal(sha256(await toA), sha256(payloads[i]![1]), `session ${i} b→a`);
    }
    assert.ok(!relay.events.some((e) => e["event"] === "closed" && e["how"] !== "done"), "no session was cut");
  });
});

import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import type * as net from "node:net";
import { makeFixture } from "../helpers/fixture";
import { runCli, startForeground } from "../helpers/cli";
import { dataPathCases, rawSession } from "../helpers/data-paths";
import { halfCloseExchange } from "../helpers/half-close-exchange";
import { requireTool } from "../helpers/require-tool";

const native = dataPathCases().find((c) => c.name === "native")!;
/** Low enough that a few dozen idle sessions fill it: the condition of 10,000 pairs under 20,000. */
const OPEN_FILES = 96;

const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/**
 * The native engine opens a pipe per direction only when bytes first flow, so idle sessions can
 * fill the open-file limit with their connections alone; when they then wake up, their pipes
 * cannot be had. The sessions must go on (copied in user space) and the relay must say why.
 */
describe("native data path without descriptors for pipes", { skip: native.skip || requireTool("prlimit") }, () => {
  it("idle sessions that fill the open-file limit still carry every byte both ways, half-close included, and the relay logs the shortage", { timeout: 90_000 }, async () => {
    const fx = makeFixture();
    fx.writeConfig({ ...native.config, log: { level: "info" } });
    const relay = await startForeground(fx.configFile, [], { prefix: ["prlimit", `--nofile=${OPEN_FILES}:${OPEN_FILES}`] });
    const pid = relay.proc.pid!;
    const sessions: { a: net.Socket; b: net.Socket; tag: string }[] = [];
    try {
      // Idle sessions (no byte yet, so no pipes) until fewer than 5 descriptors are free: room
      // for at most two pipes among all the directions below.
      while (OPEN_FILES - openFds(pid) >= 5) {
        const tag = `s${sessions.length}`;
        sessions.push({ ...(await rawSession(fx, relay, tag)), tag });
      }
      assert.ok(sessions.length >= 20, `only ${sessions.length} sessions fit under ${OPEN_FILES} descriptors`);
      // dialRelay leaves the sockets paused; nothing arrives before the exchange reads them.
      for (const s of sessions) for (const end of [s.a, s.b]) end.resume();
      const exchanges = await Promise.allSettled(sessions.map((s) => halfCloseExchange({ socket: s.a }, { socket: s.b })));
      const failed = exchanges.flatMap((r, i) => (r.status === "rejected" ? [`${sessions[i]!.tag}: ${String(r.reason)}`] : []));
      const cut = relay.events.filter((e) => e["event"] === "closed" && e["how"] === "error").map((e) => `${String(e["tag"])}: ${String(e["error"])}`);
      assert.deepEqual(failed, [], `sessions lost bytes; the relay closed ${cut.length} with an error (${cut.slice(0, 3).join("; ")})`);
      for (const s of sessions) {
        const closed = await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === s.tag, 15_000);
        assert.equal(closed["how"], "done", `${s.tag} ended ${String(closed["how"])}: ${String(closed["error"])}`);
        assert.equal(closed["bytes_a_to_b"], 200_000);
        assert.equal(closed["bytes_b_to_a"], 900_000);
      }
      const shortage = await relay.waitFor((e) => e["event"] === "splice_pipe_shortage", 5000);
      assert.equal(shortage["code"], "EMFILE");
      // With the sessions gone there are descriptors for the control socket again. Every
      // question went out at once, so nearly every session met the shortage (the early finishers
      // free descriptors for later answers: a loose bound).
      const status = await runCli(["status", "--json", "-c", fx.configFile]);
      const shortages = (JSON.parse(status.stdout) as { data_path: { pipe_shortages: number } }).data_path.pipe_shortages;
      assert.ok(shortages >= sessions.length / 2, `only ${shortages} directions of ${sessions.length} sessions met the shortage`);
    } finally {
      for (const s of sessions) for (const end of [s.a, s.b]) end.destroy();
      await relay.stop();
      fx.cleanup();
    }
  });
});

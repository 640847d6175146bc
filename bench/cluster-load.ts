/**
 * A load generator cheap enough that one relay process, and then two, are the limit on a
 * 2-core machine that also runs the generator. A full mutual-TLS handshake with RSA keys on both
 * sides costs the client about what it costs the relay (each signs once with RSA-2048), so a
 * Node generator on the same cores caps any relay at roughly one core. Here the parties hold
 * ECDSA P-256 certificates (`frelay cert party --key-type ec`) against the relay's default RSA
 * server certificate: the relay's RSA signature (about 0.9 ms here) dominates, the party's ECDSA
 * signature costs a few dozen microseconds. The rest is kept minimal too: one secure context per
 * identity made once, no logging, no end-to-end TLS, no data; each connection closes as soon as
 * it has what it came for. Every handshake is a full one (no session resumption).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { createParty, createUserCa } from "../src/pki/operations";
import { freePort, runCli } from "../test/helpers/cli";
import type { Fixture } from "../test/helpers/fixture";

/** Identities the lean parties use, and the route the relay needs between them. */
export const LEAN_A = "0.load";
export const LEAN_B = "1.load";
export const LEAN_ROUTE = { between: [LEAN_A, LEAN_B] };

export interface LeanParties {
  a: tls.SecureContext;
  b: tls.SecureContext;
}

/** ECDSA parties 0.load and 1.load in `fx`'s PKI (whose relay CA and server certificate stay RSA). */
export function leanParties(fx: Fixture): LeanParties {
  createUserCa(fx.certsDir, "load", 2048, false, "ec");
  for (const party of ["0", "1"]) createParty({ certsDir: fx.certsDir, party, user: "load", bits: 2048, keyType: "ec", force: false, relayAddress: "127.0.0.1:6000" });
  const ctx = (id: string) => {
    const p = fx.party(id, "", "");
    return tls.createSecureContext({ ca: p.relayCa, cert: p.relayCert, key: p.relayKey });
  };
  return { a: ctx(LEAN_A), b: ctx(LEAN_B) };
}

function dial(port: number, ctx: tls.SecureContext): tls.TLSSocket {
  const s = tls.connect({ host: "127.0.0.1", port, secureContext: ctx, servername: "frelay" });
  s.on("error", () => undefined);
  return s;
}

/** Loops `concurrency` workers until `ms` has passed; returns completed operations per second. */
async function rate(concurrency: number, ms: number, one: () => Promise<boolean>): Promise<{ perSec: number; failed: number }> {
  const until = performance.now() + ms;
  const t0 = performance.now();
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        if (await one()) done++;
        else failed++;
      }
    }),
  );
  return { perSec: done / ((performance.now() - t0) / 1000), failed };
}

/** Full mutual-TLS handshakes per second; each connection is closed once its handshake is done. */
export function leanHandshakes(port: number, parties: LeanParties, concurrency: number, ms: number): Promise<{ perSec: number; failed: number }> {
  return rate(concurrency, ms, () =>
    new Promise<boolean>((resolve) => {
      const s = dial(port, parties.a);
      s.once("close", () => resolve(false));
      s.once("secureConnect", () => {
        resolve(true);
        s.destroy();
      });
    }),
  );
}

/** One party: handshake, request, the reply's mode (0 = refused or closed). */
function party(port: number, ctx: tls.SecureContext, dest: string, tag: string): Promise<number> {
  return new Promise((resolve) => {
    const s = dial(port, ctx);
    const done = (mode: number) => {
      resolve(mode);
      s.destroy();
    };
    s.once("close", () => done(0));
    s.once("secureConnect", () => s.write(`{"DestParty":"${dest}","Tag":"${tag}"}`));
    // The reply is one TLS record: {"Mode":n}.
    s.once("data", (d: Buffer) => done(Number(/"Mode":(\d)/.exec(d.toString("latin1"))?.[1] ?? 0)));
  });
}

let nextTag = 0;

/** Complete pairs per second: both parties dialled at once, each takes its reply, both close. */
export function leanPairs(port: number, parties: LeanParties, concurrency: number, ms: number): Promise<{ perSec: number; failed: number }> {
  return rate(concurrency, ms, async () => {
    const tag = `p${nextTag++}`;
    const modes = await Promise.all([party(port, parties.a, LEAN_B, tag), party(port, parties.b, LEAN_A, tag)]);
    return modes[0] + modes[1] === 3;
  });
}

export interface DaemonRelay {
  /** The process `frelay stop` stops: the relay, or the primary of its workers. */
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/**
 * `frelay start` (the daemon, as an operator runs it: logs to its file only, none to a pipe the
 * generator would have to read) with `config` written to `<name>.json` in `fx`'s folder.
 */
export async function startDaemon(fx: Fixture, name: string, config: Record<string, unknown>, args: string[] = []): Promise<DaemonRelay> {
  const port = await freePort();
  const file = path.join(fx.dir, `${name}.json`);
  const pidfile = path.join(fx.dir, `${name}.pid`);
  fs.writeFileSync(file, JSON.stringify({ ...config, address: `127.0.0.1:${port}`, pidfile, control_socket: `${name}.sock`, log: { file: `${name}.log`, level: "info" } }, null, 2));
  const r = await runCli(["start", ...args, "-c", file], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`frelay start ${args.join(" ")} failed: ${r.stderr}`);
  return {
    pid: Number(fs.readFileSync(pidfile, "utf8").split("\n")[0]),
    port,
    async stop() {
      await runCli(["stop", "-c", file], { timeoutMs: 60_000 });
    },
  };
}

/** The relay under benchmark: started as an operator would, and the pairs, HTTP/2 pairs and handshake floods the sections drive through it. */
import * as tls from "node:tls";
import { dialRelay, type ConnectOptions } from "../src/client/connect";
import { dialRelayH2 } from "../src/client/h2-connect";
import type { PartySettings } from "../src/client/settings";
import { makeFixture, type Fixture } from "../test/helpers/fixture";
import { startForeground, type RunningRelay } from "../test/helpers/cli";
import type { BytePair } from "./loadgen";
import { raiseOpenFiles } from "./procstat";

export interface BenchRelay {
  fx: Fixture;
  relay: RunningRelay;
  pid: number;
  a: PartySettings;
  b: PartySettings;
  stop(): Promise<void>;
}

/** A relay in the foreground with a fresh PKI, configured as an operator would (log level info). */
export async function startBenchRelay(extraConfig: Record<string, unknown> = {}, openFiles = 0, nodeArgs: string[] = []): Promise<BenchRelay> {
  const fx = makeFixture([["0", "user1"], ["1", "user1"]]);
  fx.writeConfig({
    timeouts: { handshake: "30s", pair: "120s", idle: "0s", drain: "1s" },
    // The load generator dials from one address, hundreds of handshakes at a time.
    limits: { max_connections: 100_000, max_waiting_per_identity: 100_000, max_handshakes_per_address: 100_000 },
    log: { level: "info" },
    ...extraConfig,
  });
  const relay = await startForeground(fx.configFile, nodeArgs);
  const pid = relay.proc.pid!;
  if (openFiles > 0) raiseOpenFiles(pid, openFiles);
  return {
    fx,
    relay,
    pid,
    a: fx.party("0.user1", "1.user1", relay.address),
    b: fx.party("1.user1", "0.user1", relay.address),
    async stop() {
      await relay.stop();
      fx.cleanup();
    },
  };
}

export type RawPair = BytePair & { close(): void; latencyMs: number; secondGotMode1: boolean };

/**
 * One relayed session over the stream protocol, without end-to-end TLS: the relay copies raw
 * bytes either way, so the benchmark sends raw bytes. For the latency probe, `firstWaiting`
 * resolves once the relay has the first party waiting (its handshake and request done); only
 * then does the second dial, and its request → reply time is the pairing step alone.
 */
export async function relayPair(br: { a: PartySettings; b: PartySettings }, tag: string, firstWaiting?: () => Promise<unknown>): Promise<RawPair> {
  const opts = (p: PartySettings): ConnectOptions => ({ ...p, tag, timeoutMs: 60_000, requestAfterHandshake: firstWaiting !== undefined });
  const first = dialRelay(opts(br.a));
  if (firstWaiting) await firstWaiting();
  const [x, y] = await Promise.all([first, dialRelay(opts(br.b))]);
  for (const s of [x.socket, y.socket]) {
    s.on("error", () => undefined);
    s.resume(); // dialRelay leaves it paused for whoever reads next; here, the load generator
  }
  return {
    sender: x.socket,
    receiver: y.socket,
    latencyMs: y.repliedAt - y.requestedAt,
    secondGotMode1: y.mode === 1,
    close: () => (x.socket.destroy(), y.socket.destroy()),
  };
}

/** One relayed session over HTTP/2 (ALPN h2 to the relay, or through a front at `via`). */
export async function relayPairH2(br: BenchRelay, tag: string, via?: string): Promise<BytePair & { close(): void }> {
  const opts = (p: PartySettings, relay: string): ConnectOptions => ({ ...p, relay, tag, transport: "h2", timeoutMs: 60_000 });
  const addr = (text: string) => ({ host: "127.0.0.1", port: Number(text.slice(text.lastIndexOf(":") + 1)) });
  const [x, y] = await Promise.all([
    dialRelayH2(opts(br.a, via ?? br.relay.address), addr(via ?? br.relay.address)),
    dialRelayH2(opts(br.b, br.relay.address), addr(br.relay.address)),
  ]);
  return { sender: x.stream, receiver: y.stream, close: () => (x.session.destroy(), y.session.destroy()) };
}

/**
 * Mutual-TLS handshakes against the relay from `concurrency` loops for `durationMs`; each
 * connection closes right after its handshake. Returns how many completed.
 */
export async function handshakeFlood(br: BenchRelay, concurrency: number, durationMs: number): Promise<number> {
  const until = performance.now() + durationMs;
  let done = 0;
  const ctx = tls.createSecureContext({ ca: br.a.relayCa, cert: br.a.relayCert, key: br.a.relayKey });
  const one = () =>
    new Promise<void>((resolve) => {
      const s = tls.connect({ host: "127.0.0.1", port: br.relay.port, secureContext: ctx });
      s.on("error", () => resolve());
      s.once("secureConnect", () => {
        done++;
        s.destroy();
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  return done;
}

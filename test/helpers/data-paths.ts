import type * as net from "node:net";
import * as path from "node:path";
import * as fs from "node:fs";
import { dialRelay } from "../../src/client/connect";
import type { Fixture } from "./fixture";
import { BASE_CONFIG } from "./fixture";
import { REPO_ROOT, startForeground, type RunningRelay } from "./cli";
import { NO_SKIP } from "./require-tool";

/** The two data paths a paired TCP session can take, as config.json selects them. */
export interface DataPathCase {
  readonly name: "native" | "js";
  readonly config: { native_splice: "auto" | "off" };
  /**
   * Why this case cannot run here. Never under FRELAY_CI_NO_SKIP=1: there the native suite
   * runs and its first test fails, naming the path the relay took and why.
   */
  readonly skip: string | false;
}

/** Why the native addon cannot load in this checkout, or false when it loads. */
export function nativeAddonMissing(): string | false {
  const addon = path.join(REPO_ROOT, "build", "Release", "frelay_splice.node");
  if (!fs.existsSync(addon)) return "the native addon is not built (npm install builds it where a C++ compiler, make and python3 exist)";
  try {
    // A compiled addon has no import form; require is how Node loads it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(addon);
    return false;
  } catch (err) {
    return `the native addon does not load: ${(err as Error).message.split("\n")[0]}`;
  }
}

export function dataPathCases(): DataPathCase[] {
  const missing = nativeAddonMissing();
  return [
    { name: "native", config: { native_splice: "auto" }, skip: NO_SKIP ? false : missing },
    { name: "js", config: { native_splice: "off" }, skip: false },
  ];
}

/**
 * A paired session with raw sockets on both ends (no end-to-end TLS), so byte counts are exact.
 * The second party dials only once the relay has logged the first as waiting.
 */
export async function rawSession(fx: Fixture, relay: RunningRelay, tag: string, [idA, idB] = ["0.user1", "1.user1"]): Promise<{ a: net.Socket; b: net.Socket }> {
  const first = dialRelay({ ...fx.party(idA, idB, relay.address, tag), timeoutMs: 15_000 });
  await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag && e["identity"] === idA);
  const [x, y] = await Promise.all([first, dialRelay({ ...fx.party(idB, idA, relay.address, tag), timeoutMs: 15_000 })]);
  for (const s of [x.socket, y.socket]) s.on("error", () => undefined);
  return { a: x.socket, b: y.socket };
}

/**
 * A relay on `dp`'s path, on the fixture's certificates but in a folder of its own (`name`) for
 * its config, pidfile, control socket and log: several can share one fixture, whose keys are
 * slow to make.
 */
export async function relayOnPath(fx: Fixture, dp: DataPathCase, name: string, overrides: Record<string, unknown> = {}): Promise<RunningRelay> {
  const dir = path.join(fx.dir, name);
  fs.mkdirSync(dir);
  const tls = Object.fromEntries(Object.entries(BASE_CONFIG.tls).map(([k, v]) => [k, `../${v}`]));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...BASE_CONFIG, tls, ...dp.config, ...overrides }));
  return startForeground(path.join(dir, "config.json"));
}

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as readline from "node:readline";
import { FIXTURE_CACHE_ENV } from "./fixture";
import { procSysNumbers } from "./kernel";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
export const FRELAY_BIN = path.join(REPO_ROOT, "bin", "frelay.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  /** stdout as bytes, for binary data. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Runs the real CLI as a user would; bounded by a timeout. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer | string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FRELAY_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`frelay ${args.join(" ")} did not finish within ${opts.timeoutMs ?? 30000} ms; stderr: ${Buffer.concat(err).toString()}`));
    }, opts.timeoutMs ?? 30000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stdoutBytes: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    // A command may exit without reading all of its input (a refused party, or one whose last
    // read races the pipe's close): the exit code and output say what happened, not an EPIPE
    // surfacing later as an uncaught exception in whichever test runs then.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

export interface RunningRelay {
  proc: ChildProcess;
  port: number;
  address: string;
  /** Every JSON log line seen so far. */
  events: Record<string, unknown>[];
  /** What the relay wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the first logged event matching `pred` (past or future). */
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

/** `frelay start --fg -c <config>` as a child process; the port comes from its `listen` event. */
export async function startForeground(configFile: string, nodeArgs: string[] = [], opts: { prefix?: string[]; args?: string[]; readyMs?: number } = {}): Promise<RunningRelay> {
  // `prefix` runs the relay under another command, e.g. ["prlimit", "--nofile=64"]; `args` are more flags for start.
  const argv = [...(opts.prefix ?? []), process.execPath, ...nodeArgs, FRELAY_BIN, "start", "--fg", ...(opts.args ?? []), "-c", configFile];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const events: Record<string, unknown>[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let stderr = "";
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const waitFor = (pred: (e: Record<string, unknown>) => boolean, timeoutMs = 10000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const hit = events.find(pred);
      if (hit) return resolve(hit);
      const timer = setTimeout(() => reject(new Error(`relay log never showed the expected event; stderr: ${stderr}`)), timeoutMs);
      waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  // 'ready' comes after every listener, the control socket, the pidfile and the watcher.
  // Generous: on a loaded CI machine a cold start (TLS contexts, watcher scan) can take seconds.
  await Promise.race([
    waitFor((e) => e["event"] === "ready", opts.readyMs ?? 30_000),
    exited.then((code) => Promise.reject(new Error(`relay exited with ${code}: ${stderr}`))),
  ]);
  const listen = await waitFor((e) => e["event"] === "listen" && e["transport"] === "stream");
  const address = String(listen["address"]);
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  const relay: RunningRelay = {
    proc,
    port,
    address: `127.0.0.1:${port}`,
    events,
    stderr: () => stderr,
    waitFor,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  RUNNING.set(relay.address, relay);
  proc.once("exit", () => RUNNING.get(relay.address) === relay && RUNNING.delete(relay.address));
  return relay;
}

const RUNNING = new Map<string, RunningRelay>();

/** The foreground relay this process started that listens at `address` ("127.0.0.1:port"), if any. */
export function runningRelayAt(address: string): RunningRelay | undefined {
  return RUNNING.get(address);
}

/** A fixture plus a foreground relay on it, for one suite: `({ fx, relay, close } = await suiteRelay())`. */
export async function suiteRelay(configOverrides?: Record<string, unknown>): Promise<{ fx: import("./fixture").Fixture; relay: RunningRelay; close: () => Promise<void> }> {
  const { makeFixture } = await import("./fixture");
  const fx = makeFixture();
  if (configOverrides) fx.writeConfig(configOverrides);
  const relay = await startForeground(fx.configFile);
  return {
    fx,
    relay,
    async close() {
      await relay.stop();
      fx.cleanup();
    },
  };
}

/** Ports freePort() has handed out in this process (a test file runs in a process of its own). */
const handedOut = new Set<number>();

/**
 * Claims `port` for the whole `npm test` run, across its parallel test processes: one marker file
 * per port in the run's scratch folder, created exclusively. Outside run-suite, this process only.
 */
function claimForRun(port: number): boolean {
  const dir = process.env[FIXTURE_CACHE_ENV];
  if (!dir || !fs.existsSync(dir)) return true;
  try {
    fs.closeSync(fs.openSync(path.join(dir, `port-${port}`), "wx"));
    return true;
  } catch {
    return false;
  }
}

/**
 * The ports freePort() draws from: below the kernel's ephemeral range, which it hands to
 * `listen(0)` and to every outgoing connection. A port taken from inside that range and released
 * could become some other test's client port before our relay or front bound it (EADDRINUSE in a
 * suite's `before`, seen once in CI); below it, only a program that asks for the port by number
 * can take it. Falls back to the ephemeral range where it leaves less than 1,000 ports below.
 */
export function unassignedRange(): { low: number; high: number } | undefined {
  const ephemeralLow = procSysNumbers("net/ipv4/ip_local_port_range")?.[0];
  const low = 10_000;
  return ephemeralLow !== undefined && ephemeralLow - 1 - low >= 1000 ? { low, high: ephemeralLow - 1 } : undefined;
}

/** Binds 127.0.0.1:`port` (0: the kernel picks) and releases it; the port, or undefined if taken. */
async function bindAndRelease(port: number): Promise<number | undefined> {
  const s = net.createServer();
  const bound = await new Promise<boolean>((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (!bound) return undefined;
  const got = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return got;
}

/**
 * A free loopback port (bound and released), for configs that need a fixed address; never one
 * it already gave this process. The kernel may hand a just-released port out again, and two
 * listeners of one program on one port do not always fail: HAProxy sets SO_REUSEPORT, so a
 * config with two frontends on the same "free" port started and split the connections between
 * them (a party meant for the TLS passthrough reached the HTTP/2 frontend and read an HTTP 400).
 * Within `npm test` no two test files get the same port either (see claimForRun), and the port
 * comes from outside the ephemeral range (see unassignedRange).
 */
export async function freePort(): Promise<number> {
  const range = unassignedRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = range ? range.low + Math.floor(Math.random() * (range.high - range.low + 1)) : 0;
    if (handedOut.has(candidate)) continue;
    const port = await bindAndRelease(candidate);
    if (port !== undefined && !handedOut.has(port) && claimForRun(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("freePort: 100 ports in a row were taken or already handed out in this run");
}

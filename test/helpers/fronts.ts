import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { REPO_ROOT } from "./cli";
import { requireTool } from "./require-tool";

/** Why a front's tests must skip here, or false when its server is installed (a failure in CI). */
export function missing(binary: string): string | false {
  return requireTool(binary);
}

/**
 * A contrib/ file with its production defaults replaced by the test's paths and ports. Every
 * default must be present, so a change to the contrib file that the test would no longer
 * exercise fails loudly instead of passing quietly.
 */
export function renderContrib(rel: string, replacements: [string, string][]): string {
  let text = fs.readFileSync(path.join(REPO_ROOT, "contrib", rel), "utf8");
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`contrib/${rel} no longer contains "${from}"`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/**
 * Resolves once something accepts on 127.0.0.1:`port` (a bare TCP connect, closed at once);
 * throws if `child` exits first or the time runs out, with `context()` (its log, say) appended.
 */
export async function waitForPort(port: number, child: ChildProcess, context: () => string = () => "", timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${context()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`did not listen on ${port} within ${timeoutMs} ms: ${context()}`);
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").slice(-2000);
  } catch {
    return "(no log)";
  }
}

export interface RunningServer {
  stop(): Promise<void>;
  log(): string;
}

/** Runs a server in the foreground as a child and waits until `port` accepts connections. */
export async function runServer(cmd: string, args: string[], port: number, logFile: string): Promise<RunningServer> {
  const out = fs.openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", out, out] });
  fs.closeSync(out);
  try {
    await waitForPort(port, child, () => readLog(logFile));
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${cmd} ${(err as Error).message}`);
  }
  return {
    log: () => readLog(logFile),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

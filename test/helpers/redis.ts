import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./cli";
import { requireTool } from "./require-tool";

/** The `skip` option of a describe that runs a real redis-server (a failure under FRELAY_CI_NO_SKIP=1). */
export function redisSkip(): string | false {
  return requireTool("redis-server", "redis-cli");
}

export interface RunningRedis {
  port: number;
  url: string;
  /** Stops it (SIGTERM) and waits; the data is gone (no persistence), as after a crash. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
  cli(...args: string[]): string;
  /** The running redis-server's pid (for the bench's CPU figures). */
  pid(): number | undefined;
}

/** A throwaway redis-server on a free loopback port, no persistence, no config file. */
export async function startRedis(): Promise<RunningRedis> {
  return startRedisAt(await freePort());
}

/** As startRedis, on a given port (a node configured before Redis exists). */
export async function startRedisAt(port: number): Promise<RunningRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-redis-"));
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"], { stdio: ["ignore", "pipe", "pipe"] });
    child.on("error", () => undefined);
    proc = child;
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited: ${out}`);
      if (spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout.trim() === "PONG") return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on ${port} within 10 s: ${out}`);
  };
  await launch();
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    stop,
    restart: launch,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    pid: () => proc?.pid,
    cli: (...args) => spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).stdout,
  };
}

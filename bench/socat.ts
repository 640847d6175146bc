import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import type { Sink } from "./loadgen";
import { sleep } from "./stats";

/** socat, installed from Debian's archive when missing (the issue asks for the reference every time). */
export function ensureSocat(): void {
  if (spawnSync("sh", ["-c", "command -v socat"]).status === 0) return;
  console.log("socat is missing: installing it with apt-get (the reference relay)");
  const r = spawnSync("sh", ["-c", "apt-get install -y socat || (apt-get update && apt-get install -y socat)"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("socat is not installed and apt-get could not install it (install socat, then rerun)");
}

/**
 * socat TCP-LISTEN,fork,reuseaddr → TCP: the relay every user knows, forwarding to `target`.
 * `tuned` is socat as a user tuning it would run it, and the reference the targets are set
 * against: 64 KiB transfer buffer (`-b 65536`; its 8 KiB default halves throughput) and
 * TCP_NODELAY on both sides.
 */
export async function startSocat(port: number, target: Sink, tuned: boolean): Promise<{ proc: ChildProcess; stop(): void }> {
  const args = tuned
    ? ["-b", "65536", `TCP-LISTEN:${port},fork,reuseaddr,nodelay,bind=127.0.0.1`, `TCP:127.0.0.1:${target.port},nodelay`]
    : [`TCP-LISTEN:${port},fork,reuseaddr,bind=127.0.0.1`, `TCP:127.0.0.1:${target.port}`];
  const proc = spawn("socat", args, { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`socat exited with ${proc.exitCode}`);
    const listening = await new Promise<boolean>((resolve) => {
      // A probe that connects is forwarded to the sink like any other; it is taken off below.
      const s = net.connect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (listening) {
      (await target.next()).destroy(); // the probe's own forwarded connection
      break;
    }
    if (Date.now() > deadline) throw new Error("socat did not listen within 10 s");
    await sleep(50);
  }
  return { proc, stop: () => proc.kill("SIGKILL") };
}

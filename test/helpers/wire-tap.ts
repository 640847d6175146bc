import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";

/** One read from the relay's side of a tapped connection, numbered in the order of all reads. */
export interface TapChunk {
  seq: number;
  ns: bigint;
  bytes: Buffer;
}

/**
 * A recording TCP proxy in front of the relay (see wire-tap-process.ts): what each party
 * receives from the relay, read by read, as it comes off the wire.
 */
export class WireTap {
  /** Per tapped connection, in accept order: the relay → party reads. */
  readonly conns: TapChunk[][] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly proc: ChildProcess, readonly address: string) {}

  static start(relayPort: number): Promise<WireTap> {
    const proc = spawn(process.execPath, [path.join(__dirname, "wire-tap-process.js"), String(relayPort)], { stdio: ["pipe", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      let tap: WireTap | undefined;
      const timer = setTimeout(() => reject(new Error("the wire tap did not start within 10s")), 10000);
      proc.once("exit", (code) => reject(new Error(`the wire tap exited with ${code}`)));
      readline.createInterface({ input: proc.stdout }).on("line", (line) => {
        const m = JSON.parse(line) as { listening?: number; conn?: number; seq?: number; ns?: string; data?: string };
        if (m.listening !== undefined) {
          clearTimeout(timer);
          tap = new WireTap(proc, `127.0.0.1:${m.listening}`);
          return resolve(tap);
        }
        if (!tap || m.conn === undefined) return;
        while (tap.conns.length <= m.conn) tap.conns.push([]);
        tap.conns[m.conn]!.push({ seq: m.seq!, ns: BigInt(m.ns!), bytes: Buffer.from(m.data!, "base64") });
        for (const l of [...tap.listeners]) l();
      });
    });
  }

  /** Resolves with `probe()`'s first non-undefined answer, re-asked after every recorded read. */
  until<T>(probe: () => T | undefined, timeoutMs = 10000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const r = probe();
        if (r === undefined) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error("the wire tap never recorded what was expected"));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  stop(): void {
    this.proc.stdin!.end();
    this.proc.kill();
  }
}

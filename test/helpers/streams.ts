import * as crypto from "node:crypto";
import type { Readable } from "node:stream";

export function sha256(b: Buffer): string {
  return crypto.createHash("sha256").update(b).digest("hex");
}

/** Everything a stream yields until its end, bounded by a timeout. */
export function readAll(s: Readable, timeoutMs = 20000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error("stream did not end in time")), timeoutMs);
    s.on("data", (c: Buffer) => parts.push(c));
    s.once("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    s.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

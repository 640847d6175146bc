import * as crypto from "node:crypto";
import type { Duplex } from "node:stream";

/**
 * A session kept busy while a test does something nasty next to it: `sender` writes random
 * chunks every few milliseconds (respecting backpressure), `receiver` hashes what arrives.
 * stop() ends the stream and says whether every byte arrived intact.
 */
export function keepFlowing(sender: Duplex, receiver: Duplex, chunk = 16 * 1024): { stop(timeoutMs?: number): Promise<{ bytes: number; intact: boolean }> } {
  const sentHash = crypto.createHash("sha256");
  const gotHash = crypto.createHash("sha256");
  let sent = 0;
  let got = 0;
  receiver.on("data", (c: Buffer) => {
    gotHash.update(c);
    got += c.length;
  });
  const ended = new Promise<void>((resolve) => receiver.once("end", resolve));
  let blocked = false;
  const writer = setInterval(() => {
    if (blocked) return;
    const c = crypto.randomBytes(chunk);
    sentHash.update(c);
    sent += c.length;
    if (!sender.write(c)) {
      blocked = true;
      sender.once("drain", () => (blocked = false));
    }
  }, 5);
  return {
    async stop(timeoutMs = 20_000) {
      clearInterval(writer);
      sender.end();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${got} of ${sent} bytes arrived`)), timeoutMs)));
      await Promise.race([ended, late]).finally(() => clearTimeout(timer));
      return { bytes: got, intact: got === sent && gotHash.digest("hex") === sentHash.digest("hex") };
    },
  };
}

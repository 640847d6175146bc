/**
 * A child process of the benchmark that holds idle relayed pairs open. The pairs are spread
 * over several of these because each end is a file descriptor and one process's open-file
 * limit may be lower than 2 × the pairs wanted. Driven over IPC:
 *   → { a, b, count, prefix }   ← { made, errors, firstError? }
 *   → "check" (bytes both ways on every 100th pair)   ← { checked }
 */
import type { PartySettings } from "../src/client/settings";
import { pump } from "./loadgen";
import { relayPair, type RawPair } from "./frelay";

interface HoldOrder {
  a: PartySettings;
  b: PartySettings;
  count: number;
  prefix: string;
}

const held: RawPair[] = [];

process.on("message", (msg: HoldOrder | "check") => {
  if (msg === "check") {
    void (async () => {
      let checked = 0;
      for (let i = 0; i < held.length; i += 100) {
        const p = held[i]!;
        await pump([p, { sender: p.receiver, receiver: p.sender }], 1024, 10_000);
        checked++;
      }
      process.send!({ checked });
    })().catch((err: Error) => process.send!({ checkError: err.message }));
    return;
  }
  void (async () => {
    let errors = 0;
    let firstError: string | undefined;
    while (held.length + errors < msg.count) {
      const batch = Math.min(32, msg.count - held.length - errors);
      const made = await Promise.allSettled(Array.from({ length: batch }, (_, i) => relayPair(msg, `${msg.prefix}${held.length + errors + i}`)));
      for (const m of made) {
        if (m.status === "fulfilled") held.push(m.value);
        else {
          errors++;
          firstError ??= String(m.reason);
        }
      }
    }
    process.send!({ made: held.length, errors, ...(firstError ? { firstError } : {}) });
  })();
});
process.on("disconnect", () => process.exit(0));

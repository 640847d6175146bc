/**
 * A child process of the benchmark that holds idle relayed pairs open. The pairs are spread
 * over several of these because each end is a file descriptor and one process's open-file
 * limit may be lower than 2 × the pairs wanted. Driven over IPC:
 *   → { a, b, count, prefix }   ← { made, errors, firstError? }
 *   → "check" (bytes both ways on every 100th pair)   ← { checked } or { checkError: DeadPair }
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

/** A held pair that failed the check: its tag (to find it in the relay's log) and what its ends saw. */
export interface DeadPair {
  tag: string;
  failure: string;
  /** How each end's connection to the relay ended, if it did ("FIN", "ECONNRESET", ...). */
  ends: (string | undefined)[];
}

interface Held {
  pair: RawPair;
  tag: string;
  ends: (string | undefined)[];
}

const held: Held[] = [];

/** Remembers how each end's connection to the relay ends, to say so if the pair fails its check. */
function watchEnds(pair: RawPair, tag: string): Held {
  const h: Held = { pair, tag, ends: [undefined, undefined] };
  [pair.sender, pair.receiver].forEach((s, i) => {
    s.once("end", () => (h.ends[i] ??= "FIN"));
    s.once("error", (err: NodeJS.ErrnoException) => (h.ends[i] ??= err.code ?? err.message));
  });
  return h;
}

process.on("message", (msg: HoldOrder | "check") => {
  if (msg === "check") {
    void (async () => {
      let checked = 0;
      for (let i = 0; i < held.length; i += 100) {
        const { pair: p, tag, ends } = held[i]!;
        try {
          await pump([p, { sender: p.receiver, receiver: p.sender }], 1024, 10_000);
        } catch (err) {
          const dead: DeadPair = { tag, failure: (err as Error).message, ends };
          process.send!({ checkError: dead });
          return;
        }
        checked++;
      }
      process.send!({ checked });
    })().catch((err: Error) => process.send!({ checkError: { tag: "", failure: err.message, ends: [] } satisfies DeadPair }));
    return;
  }
  void (async () => {
    let errors = 0;
    let firstError: string | undefined;
    while (held.length + errors < msg.count) {
      const batch = Math.min(32, msg.count - held.length - errors);
      const tags = Array.from({ length: batch }, (_, i) => `${msg.prefix}${held.length + errors + i}`);
      const made = await Promise.allSettled(tags.map((tag) => relayPair(msg, tag)));
      for (const [i, m] of made.entries()) {
        if (m.status === "fulfilled") held.push(watchEnds(m.value, tags[i]!));
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

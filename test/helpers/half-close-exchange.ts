import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type { Duplex } from "node:stream";
import { readAll, sha256 } from "./streams";

/**
 * The half-close exchange every transport must carry: `first` sends a question and its FIN;
 * `second` reads it to its end while `first` can still read, and only then answers and ends.
 * Asserts both directions arrive whole; the caller checks how its relay ended the session.
 */
export async function halfCloseExchange(first: { socket: Duplex }, second: { socket: Duplex }): Promise<void> {
  const question = crypto.randomBytes(200_000);
  const answer = crypto.randomBytes(900_000);
  const secondGot = readAll(second.socket);
  const firstGot = readAll(first.socket);
  // If the question fails, the answer's read is never awaited: its rejection must not escape.
  firstGot.catch(() => undefined);
  first.socket.end(question);
  // The second side sees the end of the question, and only then starts its answer.
  assert.equal(sha256(await secondGot), sha256(question));
  assert.ok(!first.socket.readableEnded, "the first side's read direction is still open");
  second.socket.end(answer);
  assert.equal(sha256(await firstGot), sha256(answer));
}

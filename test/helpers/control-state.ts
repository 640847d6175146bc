import { controlRequest } from "../../src/daemon/control-client";

/**
 * Resolves with the relay's `GET /status` once `pred` holds for it: for a daemon whose log the
 * test cannot follow line by line, the control socket is the relay's own word on its state.
 * Asks every 50 ms, bounded by `timeoutMs`.
 */
export async function waitForStatus(socket: string, pred: (status: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = (await controlRequest(socket, "GET", "/status", 5000)).body;
      if (pred(last as Record<string, unknown>)) return last as Record<string, unknown>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`relay status never matched within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

import type * as http2 from "node:http2";
import type { H2TimeBounds } from "./h2-session-bounds";

/** What one HTTP/2 connection may make the relay hold for peers that do not read. */
export interface H2BufferBounds {
  /** `limits.h2_connection_buffer_mib`, in bytes. */
  readonly bufferBytes: number;
  /** `limits.h2_max_streams`: streams open at once on one connection. */
  readonly maxStreams: number;
}

/** Everything that bounds one HTTP/2 connection: its time and its memory. */
export type H2Bounds = H2TimeBounds & H2BufferBounds;

/** HTTP/2's own default window: anything smaller only slows a stream down. */
export const MIN_STREAM_WINDOW = 65_535;

/** Each stream's receive window: the connection's budget shared evenly by its streams. */
export function streamWindow(b: H2BufferBounds): number {
  return Math.floor(b.bufferBytes / b.maxStreams);
}

/**
 * The SETTINGS a connection is offered, from its memory budget.
 *
 * Why the stream window is the bound: when a party's peer does not read, the splice pauses the
 * party's stream, and Node stops giving that stream's flow-control credit back, so its sender
 * can have at most one stream window of DATA in the relay's memory. Node returns
 * connection-level credit as soon as DATA arrives, whether the stream is read or not, so the
 * connection window bounds nothing here: the sum of the stream windows must. Hence
 * window × streams ≤ budget, whatever the client does.
 */
export function h2Settings(b: H2BufferBounds): http2.Settings {
  return { initialWindowSize: streamWindow(b), maxConcurrentStreams: b.maxStreams, enablePush: false };
}

/**
 * The connection window: no larger than the budget (more could never be in use at once), and no
 * smaller than HTTP/2's default.
 */
export function connectionWindow(b: H2BufferBounds): number {
  return Math.max(MIN_STREAM_WINDOW, b.bufferBytes);
}

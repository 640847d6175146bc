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

/** Node's own writable highWaterMark, the smallest queue a stream ever had. */
const NODE_WRITE_QUEUE = 16 * 1024;

/**
 * The most bytes written to one stream that may wait in the relay (in Node and nghttp2, for the
 * peer's window or the socket) before the splice pauses the other party: a quarter of the
 * stream's share of the budget, at most 256 KiB and no more than leaves the window its minimum,
 * never below Node's own 16 KiB.
 *
 * Why not Node's 16 KiB: a DATA frame carries at most 16 KiB, so with that queue every frame
 * paused the source until it had gone out, and each frame cost its own read, write, TLS record
 * flush and pause/resume. Measured on one stream: relay CPU per GB fell by about a third with
 * 256 KiB of queue; more than that gained nothing more.
 */
export function streamSendQueue(b: H2BufferBounds): number {
  const share = Math.floor(b.bufferBytes / b.maxStreams);
  return Math.max(NODE_WRITE_QUEUE, Math.min(256 * 1024, Math.floor(share / 4), share - MIN_STREAM_WINDOW));
}

/**
 * Each stream's receive window: its even share of the connection's budget, less what may be
 * queued to it on the way out (streamSendQueue), so that the two together stay within the
 * share. Never under HTTP/2's default window: at the smallest shares the 16 KiB queue comes on
 * top, as Node's own always did.
 */
export function streamWindow(b: H2BufferBounds): number {
  const share = Math.floor(b.bufferBytes / b.maxStreams);
  return Math.max(MIN_STREAM_WINDOW, share - streamSendQueue(b));
}

/**
 * The SETTINGS a connection is offered, from its memory budget.
 *
 * Why the stream window is the bound: when a party's peer does not read, the splice pauses the
 * party's stream, and Node stops giving that stream's flow-control credit back, so its sender
 * can have at most one stream window of DATA in the relay's memory; what is written to the stream
 * waits up to streamSendQueue before the other party is paused. Node returns
 * connection-level credit as soon as DATA arrives, whether the stream is read or not, so the
 * connection window bounds nothing here: the sum of the stream windows must. Hence
 * (window + send queue) × streams ≤ budget, whatever the client does.
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

/** The native data path: a paired TCP session handed to the splice(2) engine (native/splice_engine.cc), or back to the JS path when it cannot be. */
import type * as net from "node:net";
import { constants } from "node:os";
import { spliceBinding, type SpliceBinding } from "./native-binding";
import { SessionEnd } from "./session-end";
import type { RawStream, SessionSplice, SessionTimers, SpliceEnd, SpliceStats } from "./session-splice";
import { socketFd } from "./socket-fd";

/** Event kinds as native/splice_engine.cc numbers them. */
const SOURCE_ENDED = 1;
const FINISHED = 2;
const FAILED = 3;
const NO_PIPE = 4;

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The process's one native engine, and the sessions it carries, by id. */
class Engine {
  private readonly live = new Map<number, NativeSplice>();

  constructor(readonly binding: SpliceBinding) {
    binding.start(() => this.deliver());
  }

  /** Hands every waiting engine event to its session (also called at once by close()). */
  deliver(): void {
    const ev = this.binding.takeEvents();
    for (let i = 0; i + 5 < ev.length; i += 6) {
      if (ev[i + 1] === NO_PIPE) pipeShortage.report(errnoNames.get(ev[i + 3]!) ?? `errno ${ev[i + 3]}`);
      else this.live.get(ev[i]!)?.engineEvent(ev[i + 1]!, ev[i + 2]!, ev[i + 3]!, { aToB: ev[i + 4]!, bToA: ev[i + 5]! });
    }
  }

  register(id: number, s: NativeSplice): void {
    this.live.set(id, s);
    // While sessions are open the engine's reports must keep the event loop alive.
    if (this.live.size === 1) this.binding.ref(true);
  }

  forget(id: number): void {
    if (this.live.delete(id) && this.live.size === 0) this.binding.ref(false);
  }

  get size(): number {
    return this.live.size;
  }
}

let engine: Engine | undefined;

/**
 * Directions that found no descriptor for a pipe (the open-file limit reached, mostly by the
 * sessions' own connections) and copied through a 64 KiB buffer instead: slower per byte, but
 * the session carries on. Counted for status, and told to whoever logs it.
 */
const pipeShortage = {
  count: 0,
  listener: undefined as ((code: string) => void) | undefined,
  report(code: string): void {
    this.count++;
    this.listener?.(code);
  },
};

/** How many session directions have had to copy for want of a pipe, since the process started. */
export function nativePipeShortages(): number {
  return pipeShortage.count;
}

/** `listener` hears each such shortage, with its errno name (EMFILE, ENFILE). */
export function onNativePipeShortage(listener: (code: string) => void): void {
  pipeShortage.listener = listener;
}

/** Sessions the native engine carries now (each holds two party connections). */
export function nativeSessionCount(): number {
  return engine?.size ?? 0;
}

/**
 * A paired session whose bytes the native engine moves with splice(2): they never enter
 * JavaScript. The engine owns both connections (its own duplicated descriptors; Node's sockets
 * are gone) and does half-close, backpressure and the close itself; what the JS path keeps in
 * JavaScript (the idle timeout, the flush grace, the end report) is the same SessionEnd here.
 */
export class NativeSplice implements SessionSplice {
  private last: SpliceStats = { aToB: 0, bToA: 0 };
  private sourcesEnded = 0;
  private readonly ending: SessionEnd;

  constructor(
    private readonly engine: Engine,
    private readonly id: number,
    onEnd: (how: SpliceEnd, error?: Error) => void,
    timers: SessionTimers,
  ) {
    engine.register(id, this);
    this.ending = new SessionEnd(timers, () => this.stats.aToB + this.stats.bToA, (how) => this.cut(how), onEnd);
  }

  get stats(): SpliceStats {
    if (this.ending.ended) return this.last;
    const s = this.engine.binding.stats(this.id);
    if (s) this.last = { aToB: s[0], bToA: s[1] };
    return this.last;
  }

  get flushing(): boolean {
    return this.ending.flushing;
  }

  get held(): SpliceStats {
    const s = this.ending.ended ? undefined : this.engine.binding.stats(this.id);
    return { aToB: s?.[2] ?? 0, bToA: s?.[3] ?? 0 };
  }

  close(): void {
    this.cut("closed");
  }

  private cut(how: SpliceEnd): void {
    if (this.ending.ended) return;
    const final = this.engine.binding.close(this.id);
    if (final) return this.finish(how, { aToB: final[0], bToA: final[1] });
    // The engine ended it first: its end event is waiting; take it now, with its exact counts.
    this.engine.deliver();
    this.finish(how, this.last);
  }

  engineEvent(kind: number, dirOrSide: number, errno: number, counts: SpliceStats): void {
    if (kind === SOURCE_ENDED) {
      // Both sources have sent their FIN: the last bytes get a bounded time to be taken.
      if (++this.sourcesEnded === 2) this.ending.bothEnded();
      return;
    }
    if (kind === FINISHED) return this.finish("done", counts);
    if (kind === FAILED) {
      const name = errnoNames.get(errno) ?? `errno ${errno}`;
      const error: NodeJS.ErrnoException = new Error(`${name} on ${dirOrSide === 0 ? "the waiting" : "the arriving"} party's connection`);
      error.code = name;
      this.finish("error", counts, error);
    }
  }

  private finish(how: SpliceEnd, counts: SpliceStats, error?: Error): void {
    if (this.ending.ended) return;
    this.last = counts;
    this.ending.end(how, () => this.engine.forget(this.id), error);
  }
}

/**
 * Moves a paired session to the native engine, or says why it stays in JavaScript (the
 * returned streams then carry every byte already read, to hand to the JS splice).
 *
 * The hand-over, synchronous so that no read can slip in between: take the bytes Node has
 * already read (they go first), let the engine duplicate both descriptors, then destroy Node's
 * sockets. Destroying closes Node's descriptors and takes them out of libuv's epoll, but not
 * the connections: the engine's duplicates keep them open, and from then on only the engine
 * reads, writes, shuts down or closes them. No descriptor is shared between two owners.
 */
export function handOff(a: RawStream, b: RawStream, onEnd: (how: SpliceEnd, error?: Error) => void, timers: SessionTimers): NativeSplice | { fallback: [RawStream, RawStream]; reason: string } {
  const found = spliceBinding();
  if (!("binding" in found)) return { fallback: [a, b], reason: found.reason };
  const fds = [socketFd(a.stream), socketFd(b.stream)];
  const sockets = [a.stream, b.stream] as net.Socket[];
  if (fds[0] === undefined || fds[1] === undefined) return { fallback: [a, b], reason: "not two plain TCP sockets" };
  for (const s of sockets) {
    // A reply still queued in Node would be lost with its socket; a 'data' listener would be
    // handed bytes meant for the peer. Neither happens after a normal hand-off.
    if (s.destroyed || s.writableLength > 0 || s.listenerCount("data") > 0 || s.localPort === undefined || s.remotePort === undefined) {
      return { fallback: [a, b], reason: "a socket is closing, writing or read by someone" };
    }
  }
  const raw: [RawStream, RawStream] = [withBuffered(a), withBuffered(b)];
  engine ??= new Engine(found.binding);
  let id: number;
  try {
    id = found.binding.add(fds[0], sockets[0]!.localPort!, sockets[0]!.remotePort!, fds[1], sockets[1]!.localPort!, sockets[1]!.remotePort!, raw[0].leftover, raw[1].leftover);
  } catch (err) {
    return { fallback: raw, reason: (err as Error).message };
  }
  for (const s of sockets) s.destroy();
  return new NativeSplice(engine, id, onEnd, timers);
}

/** `r` with the bytes Node has read from its socket but nobody consumed added to its leftover. */
function withBuffered(r: RawStream): RawStream {
  const chunks: Buffer[] = [];
  for (let c: unknown; (c = r.stream.read()) !== null; ) chunks.push(c as Buffer);
  return chunks.length === 0 ? r : { stream: r.stream, leftover: Buffer.concat([r.leftover, ...chunks]) };
}

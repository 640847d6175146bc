import { spliceBinding } from "./native-binding";
import { handOff } from "./native-splice";
import type { RawStream, SessionSplice, SessionTimers, SpliceEnd } from "./session-splice";
import { Splice } from "./splice";

export type DataPathName = "native" | "js";

/** Which path paired TCP sessions take, and why not the native one when they don't. */
export interface DataPathChoice {
  readonly path: DataPathName;
  /** Why the native path is not used (absent when it is). */
  readonly reason?: string;
  /** Switched off on purpose (FRELAY_SPLICE=off or config), not missing. */
  readonly forced: boolean;
}

/**
 * `native_splice` from config.json ("auto" or "off"); FRELAY_SPLICE=off in the environment
 * wins. "auto" takes the native splice(2) path wherever its addon was built and loads.
 */
export function chooseDataPath(setting: "auto" | "off" = "auto"): DataPathChoice {
  if (process.env["FRELAY_SPLICE"] === "off") return { path: "js", reason: "FRELAY_SPLICE=off", forced: true };
  if (setting === "off") return { path: "js", reason: "native_splice is off in config.json", forced: true };
  const found = spliceBinding();
  return "binding" in found ? { path: "native", forced: false } : { path: "js", reason: found.reason, forced: false };
}

/**
 * Starts moving bytes between two paired parties: natively when `path` says so and both are
 * plain TCP sockets (the stream protocol after its hand-off), else in JavaScript (HTTP/2
 * streams always; TCP when the native path is off or a socket cannot be handed over).
 */
export function startSplice(a: RawStream, b: RawStream, onEnd: (how: SpliceEnd, error?: Error) => void, timers: SessionTimers, path: DataPathName): { splice: SessionSplice; path: DataPathName } {
  if (path === "native") {
    const native = handOff(a, b, onEnd, timers);
    if (!("fallback" in native)) return { splice: native, path: "native" };
    [a, b] = native.fallback;
  }
  return { splice: new Splice(a, b, onEnd, timers), path: "js" };
}

import * as path from "node:path";

/** What native/splice_engine.cc exports (see there for the contract of each call). */
export interface SpliceBinding {
  start(onEvents: () => void): void;
  add(fdA: number, localPortA: number, remotePortA: number, fdB: number, localPortB: number, remotePortB: number, leftoverAToB: Buffer, leftoverBToA: Buffer): number;
  close(id: number): [number, number] | undefined;
  /** [a→b, b→a delivered, a→b, b→a held in the pipes]. */
  stats(id: number): [number, number, number, number] | undefined;
  takeEvents(): Float64Array;
  ref(on: boolean): void;
}

/** Where `npm install` (scripts/build-native.js) puts the addon, from dist/src/datapath. */
const ADDON = path.join(__dirname, "..", "..", "..", "build", "Release", "frelay_splice.node");

let loaded: { binding: SpliceBinding } | { reason: string } | undefined;

/** The addon, loaded once; or why it cannot be used here. */
export function spliceBinding(): { binding: SpliceBinding } | { reason: string } {
  if (loaded) return loaded;
  if (process.platform !== "linux") return (loaded = { reason: `splice(2) needs Linux, this is ${process.platform}` });
  try {
    // A compiled addon at a path known only at run time has no import form; require is how Node loads it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = { binding: require(ADDON) as SpliceBinding };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    loaded = {
      reason:
        code === "MODULE_NOT_FOUND"
          ? "the native addon was not built at install (it needs a C++ compiler, make and python3; see build/native-build.log, then run node scripts/build-native.js)"
          : `the native addon failed to load (${(err as Error).message.split("\n")[0]})`,
    };
  }
  return loaded;
}

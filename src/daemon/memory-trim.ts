/**
 * Gives the C heap's free pages back to the kernel after sessions end (glibc malloc_trim, through
 * the native addon built from native/memory_trim.cc).
 *
 * Why: measured in a soak, the relay's JavaScript heap stayed flat while its RSS rose in steps;
 * the growth was glibc's main heap ([heap] in /proc/<pid>/smaps), where TLS handshakes, libuv and
 * Node's Buffers allocate. glibc keeps freed memory mapped when a few live blocks sit above it
 * (and raises its own trim threshold after large frees), so RSS follows the busiest moment so
 * far rather than current use. One malloc_trim(0) in the soak's relay took [heap] from 36 to
 * 15 MiB and RSS from 103 to 81 MiB. Nothing leaks; the memory is just never returned.
 *
 * When: after sessions have closed, at most once per interval (the first close after a quiet
 * spell trims at once; closes within the interval are gathered into one trim at its end). A trim
 * costs a walk of malloc's free lists, a few milliseconds at most; an idle relay never trims.
 * Without the addon (no compiler at install, not Linux) or on a C library other than glibc
 * this does nothing.
 */
import * as path from "node:path";

/** What native/memory_trim.cc exports. */
interface MemoryBinding {
  /** true: memory was released; false: none to release; undefined: no malloc_trim here. */
  trimMemory(): boolean | undefined;
  /** Bytes malloc holds (glibc 2.33+), else undefined. */
  mallocStats(): { heap: number; inUse: number; free: number; mmapped: number } | undefined;
}

/** Where scripts/build-native.js puts the addon, from dist/src/daemon. */
const ADDON = path.join(__dirname, "..", "..", "..", "build", "Release", "frelay_memory.node");

let binding: MemoryBinding | null | undefined;

/** The addon, loaded once; null when it is absent or cannot load (then trimming is off). */
export function memoryBinding(): MemoryBinding | null {
  if (binding !== undefined) return binding;
  try {
    // A compiled addon at a path known only at run time has no import form; require is how Node loads it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = process.platform === "linux" ? (require(ADDON) as MemoryBinding) : null;
  } catch {
    binding = null;
  }
  return binding;
}

/** The shortest time between two trims. */
export const TRIM_INTERVAL_MS = 10_000;

export class MemoryTrimmer {
  /** Trims done (whether or not glibc found pages to release). */
  trims = 0;
  /** 0 at start: the first session to end trims at once. */
  private lastTrim = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly trim: (() => boolean | undefined) | undefined;

  constructor(private readonly intervalMs = TRIM_INTERVAL_MS) {
    const b = memoryBinding();
    // Probe once: undefined means this C library has no malloc_trim, so never schedule.
    this.trim = b && b.trimMemory() !== undefined ? () => b.trimMemory() : undefined;
  }

  /** Whether trimming works here (glibc and the addon present). */
  get available(): boolean {
    return this.trim !== undefined;
  }

  /** A session ended: trim now, or once the interval since the last trim is over. */
  sessionClosed(): void {
    if (!this.trim || this.timer) return;
    const wait = this.lastTrim + this.intervalMs - Date.now();
    if (wait <= 0) return this.run();
    this.timer = setTimeout(() => this.run(), wait);
    this.timer.unref(); // a pending trim never keeps the process alive
  }

  private run(): void {
    this.timer = undefined;
    this.lastTrim = Date.now();
    this.trim?.();
    this.trims++;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

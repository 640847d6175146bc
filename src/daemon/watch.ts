/** The config watcher: changes to config.json and the files it names become one debounced "reload requested". */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe } from "../errors";
import type { Logger } from "../log/logger";

const DEBOUNCE_MS = 250;
/** A file counts as written once its size and mtime hold this long (a slow writer's pauses). */
const STABLE_MS = 150;
const STABLE_POLL_MS = 50;
/** A file that keeps changing longer than this is reloaded anyway (the reload reports what it finds). */
const STABLE_BOUND_MS = 3000;

/**
 * Turns changes to config.json and every file it names into one debounced "reload requested".
 *
 * Watches the *folders* of those files (not recursive) and filters by file name: watching a
 * file alone misses editors that save by rename and delete-and-recreate. Each file is watched
 * as well, through any symbolic link, so a link swapped to a new target is seen. Once events
 * stop, the reload waits until the files' size and mtime hold still (a slow writer finishes).
 * The set of files is re-read after every reload, so a reload that names new files is followed.
 *
 * Why not chokidar: it rescans a watched folder (readdir, lstat of every entry) after each event
 * in it, and the log file, appended to a few times per session, usually shares the config's
 * folder: that rescan cost more relay CPU than a session's pairing. Here an event for a file
 * that does not matter costs one name comparison.
 */
export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly dirWatchers = new Map<string, fs.FSWatcher>();
  private readonly fileWatchers = new Map<string, fs.FSWatcher>();
  private closed = false;
  private settling = false;

  constructor(
    private readonly files: () => readonly string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {
    this.sync();
  }

  /** Watches the folders and files that matter now; drops watches that no longer do. */
  private sync(): void {
    if (this.closed) return;
    const files = this.files();
    const dirs = new Set(files.map((f) => path.dirname(f)));
    for (const [d, w] of this.dirWatchers) {
      if (dirs.has(d)) continue;
      w.close();
      this.dirWatchers.delete(d);
    }
    for (const d of dirs) {
      if (this.dirWatchers.has(d)) continue;
      const w = this.watch(d, (name) => {
        if (name === null || this.files().includes(path.join(d, name))) this.changed(path.join(d, name ?? ""));
      });
      if (w) this.dirWatchers.set(d, w);
    }
    // File watches follow the inode they were set on: renewed each time, so a file replaced by a
    // rename or a link pointed elsewhere is watched again at its new inode.
    for (const w of this.fileWatchers.values()) w.close();
    this.fileWatchers.clear();
    for (const f of files) {
      const w = this.watch(f, () => this.changed(f), true);
      if (w) this.fileWatchers.set(f, w);
    }
  }

  private watch(target: string, onEvent: (name: string | null) => void, quietIfMissing = false): fs.FSWatcher | undefined {
    try {
      const w = fs.watch(target, (_event, name) => onEvent(name === null ? null : String(name)));
      w.on("error", (err) => {
        w.close();
        // A deleted file's own watch ends here; its folder's watch sees it come back.
        if (!quietIfMissing) this.log.warn("watch_error", { path: target, error: describe(err) });
      });
      return w;
    } catch (err) {
      if (!quietIfMissing) this.log.warn("watch_error", { path: target, error: describe(err) });
      return undefined;
    }
  }

  private changed(file: string): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.settle(file), DEBOUNCE_MS);
  }

  /** Waits for the files to hold still (bounded), then asks for one reload. */
  private async settle(file: string): Promise<void> {
    if (this.settling) return this.changed(file); // one at a time; this event is not lost
    this.settling = true;
    try {
      const started = Date.now();
      let last = this.snapshot();
      let stableSince = Date.now();
      while (!this.closed && Date.now() - stableSince < STABLE_MS && Date.now() - started < STABLE_BOUND_MS) {
        await new Promise((r) => setTimeout(r, STABLE_POLL_MS));
        const now = this.snapshot();
        if (now !== last) {
          last = now;
          stableSince = Date.now();
        }
      }
    } finally {
      this.settling = false;
    }
    if (this.closed) return;
    this.log.debug("change", { file });
    this.onChange();
    // The reload may have changed which files matter; follow them once it is applied.
    setTimeout(() => this.sync(), 1000).unref();
  }

  private snapshot(): string {
    return this.files()
      .map((f) => {
        try {
          const s = fs.statSync(f);
          return `${s.size}:${s.mtimeMs}:${s.ino}`;
        } catch {
          return "-";
        }
      })
      .join(",");
  }

  /** Watching starts in the constructor: edits made from its return on are seen. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of [...this.dirWatchers.values(), ...this.fileWatchers.values()]) w.close();
    this.dirWatchers.clear();
    this.fileWatchers.clear();
    return Promise.resolve();
  }
}

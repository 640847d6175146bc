import * as path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { describe } from "../errors";
import type { Logger } from "../log/logger";

const DEBOUNCE_MS = 250;

/**
 * Turns changes to config.json and every file it names into one debounced "reload requested".
 *
 * Watches the *folders* (depth 0) and filters by path: watching a file directly misses editors
 * that save by rename, delete-and-recreate, and symlink swaps. awaitWriteFinish waits for a slow
 * writer to finish. The set of files is re-read after every event, so a reload that names new
 * files is followed.
 */
export class ConfigWatcher {
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | undefined;
  private watchedDirs = new Set<string>();
  private readonly readyPromise: Promise<void>;

  constructor(
    private readonly files: () => readonly string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {
    this.watcher = watch([], {
      ignoreInitial: true,
      depth: 0,
      awaitWriteFinish: { stabilityThreshold: 150, pollInterval: 50 },
      // Only the files that matter: the log file, pidfile and socket often share the folder,
      // and the log is appended to on every event; chokidar would stat-poll it (awaitWriteFinish)
      // all day long, stealing time from relaying.
      ignored: (p: string) => {
        const abs = path.resolve(p);
        return !this.watchedDirs.has(abs) && !this.files().includes(abs);
      },
    });
    this.readyPromise = new Promise((resolve) => this.watcher.once("ready", () => resolve()));
    this.watcher.on("all", (_event, file) => this.onEvent(file));
    this.watcher.on("error", (err) => this.log.warn("watch_error", { error: describe(err) }));
    this.syncDirs();
  }

  private syncDirs(): void {
    const dirs = new Set(this.files().map((f) => path.dirname(f)));
    const before = this.watchedDirs;
    this.watchedDirs = dirs; // first: chokidar asks `ignored` about a folder as it is added
    for (const d of dirs) if (!before.has(d)) this.watcher.add(d);
    for (const d of before) if (!dirs.has(d)) this.watcher.unwatch(d);
  }

  private onEvent(file: string): void {
    if (!this.files().includes(path.resolve(file))) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.log.debug("change", { file });
      this.onChange();
      // The reload may have changed which files matter; follow them once it is applied.
      setTimeout(() => this.syncDirs(), 1000).unref();
    }, DEBOUNCE_MS);
  }

  /** Resolves once the initial scan is done: changes from then on are seen. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.watcher.close();
  }
}

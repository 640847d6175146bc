/** The process's open-file limit: read at start, and a watch that says when the descriptors run out and when they recover. */
import * as fs from "node:fs";
import type { Logger } from "../log/logger";

/** The soft RLIMIT_NOFILE of a process (this one by default; Linux /proc/<pid>/limits), if it can be read. */
export function openFileLimit(pid: number | "self" = "self"): number | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    if (!soft || soft === "unlimited") return undefined;
    return Number(soft);
  } catch {
    return undefined;
  }
}

/** How often the descriptor count is read (a readdir of /proc/self/fd: cheap at this rate). */
const OPEN_FILES_CHECK_MS = 2000;

/**
 * Says so when the process runs out of file descriptors. libuv survives EMFILE at accept by
 * accepting and closing the connection at once (its "EMFILE trick"), without telling Node: new
 * parties are then dropped silently. This watch logs `open_files_exhausted` when the count
 * reaches the limit, and `open_files_recovered` once it is below 90% again.
 */
export function watchOpenFiles(log: Logger): () => void {
  const limit = openFileLimit();
  if (limit === undefined) return () => undefined;
  let exhausted = false;
  const timer = setInterval(() => {
    let open: number;
    try {
      open = fs.readdirSync("/proc/self/fd").length - 1; // less the one reading the folder
    } catch (err) {
      // Reading the folder needs a descriptor too: failing for want of one is the answer.
      if ((err as NodeJS.ErrnoException).code !== "EMFILE") return;
      open = limit;
    }
    if (!exhausted && open >= limit - 2) {
      exhausted = true;
      log.warn("open_files_exhausted", { open, limit, effect: "new connections are closed at accept", fix: "raise the open-file limit (systemd LimitNOFILE=) or lower limits.max_connections" });
    } else if (exhausted && open < limit * 0.9) {
      exhausted = false;
      log.info("open_files_recovered", { open, limit });
    }
  }, OPEN_FILES_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

import { onNativePipeShortage } from "../datapath/native-splice";
import type { Logger } from "../log/logger";

/** At most one `splice_pipe_shortage` line per window; the rest are counted into the next. */
const WINDOW_MS = 60_000;

/**
 * Logs when native sessions copy for want of a pipe. Each direction carrying bytes needs a pipe
 * (two descriptors) on top of its session's two connections, so a relay whose open-file limit
 * its sessions nearly fill meets this the moment many idle sessions wake up: one line at once,
 * then at most one per minute with how many more there were, instead of one per session.
 */
export function logPipeShortages(log: Logger): void {
  let quietUntil = 0;
  let held = 0;
  let lastCode = "";
  const line = (directions: number) =>
    log.warn("splice_pipe_shortage", {
      code: lastCode,
      directions,
      effect: "these sessions go on, copied through a 64 KiB buffer instead of splice(2)",
      fix: "raise the open-file limit (systemd LimitNOFILE=) to about 3 per party connection, or lower limits.max_connections",
    });
  onNativePipeShortage((code) => {
    lastCode = code;
    if (Date.now() >= quietUntil) {
      quietUntil = Date.now() + WINDOW_MS;
      line(1);
      return;
    }
    if (held++ === 0) {
      setTimeout(() => {
        line(held);
        held = 0;
      }, quietUntil - Date.now()).unref();
    }
  });
}

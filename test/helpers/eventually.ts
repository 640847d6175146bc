import * as fs from "node:fs";

/**
 * Resolves once `check` returns something other than undefined/false, asking every 25 ms, or
 * rejects after `timeoutMs` naming `what`. For state the relay writes asynchronously and
 * announces nowhere a test can listen (a line reaching a log file, text on stderr): a bounded
 * wait on the state itself, never a fixed sleep standing in for it.
 */
export async function eventually<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The file's text once it matches `pattern` (a file that does not exist yet reads as empty). */
export function fileMatches(file: string, pattern: RegExp, timeoutMs?: number): Promise<string> {
  return eventually(`${file} matching ${pattern}`, () => {
    const text = readOrEmpty(file);
    return pattern.test(text) ? text : undefined;
  }, timeoutMs);
}

/**
 * Resolves once process `pid` holds `file` open (a descriptor in /proc/<pid>/fd links to it):
 * how a test sees that a log reopen (SIGUSR1) has happened, which the relay announces nowhere.
 * Needed before sending another signal: Linux delivers pending signals lowest number first,
 * so a SIGHUP sent right after a SIGUSR1 can be handled before it.
 */
export function holdsOpen(pid: number, file: string, timeoutMs?: number): Promise<true> {
  const target = fs.realpathSync(file);
  return eventually(`process ${pid} holding ${file} open`, () => {
    const dir = `/proc/${pid}/fd`;
    return fs.readdirSync(dir).some((fd) => {
      try {
        return fs.readlinkSync(`${dir}/${fd}`) === target;
      } catch {
        return false;
      }
    });
  }, timeoutMs);
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

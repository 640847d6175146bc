import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The pidfile: first line the PID (all that systemd's PIDFile= and `head -n1` read), second
 * line that process's start time as the kernel counts it (/proc/<pid>/stat, field 22). PIDs are
 * reused; the start time is not, so `stop` and `status` can tell "our relay" from "some other
 * process that now has this PID" and never signal the latter.
 */
export type PidState =
  | { kind: "none" }
  /** `startTime`: as recorded, to re-check before any signal (undefined in an older pidfile). */
  | { kind: "running"; pid: number; startTime: string | undefined }
  /** `why`: what makes it stale, for the message (gone, zombie, another process, unreadable). */
  | { kind: "stale"; pid: number; why: string };

/** A process as /proc shows it, or undefined when there is no such process (or no /proc). */
interface ProcInfo {
  state: string;
  startTime: string;
}

function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const startTime = fields[19]; // field 22 of the whole line
  return state && startTime ? { state, startTime } : undefined;
}

/** Whether /proc/<pid>/cmdline names frelay (true where it cannot be read: no /proc). */
function runsFrelay(pid: number): boolean {
  try {
    return /frelay/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/** This process's start time for the pidfile ("" where /proc is not available). */
export function ownStartTime(pid = process.pid): string {
  return procInfo(pid)?.startTime ?? "";
}

/**
 * Why `pid` is not (or no longer) the frelay that recorded `startTime`, or undefined when it is.
 * Without a recorded start time (an older pidfile) the command line must at least be frelay's.
 */
function notOurs(pid: number, startTime: string | undefined): string | undefined {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return "no such process";
  }
  const info = procInfo(pid);
  if (!info) return undefined; // no /proc here: existence is all that can be known
  // A zombie has exited; only its parent has not collected it yet.
  if (info.state === "Z" || info.state === "X") return "that process has exited (zombie)";
  if (startTime ? info.startTime !== startTime : !runsFrelay(pid)) return "that PID now belongs to another process";
  return undefined;
}

/** Whether `pid` is still the very frelay process that was started at `startTime`. */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  return notOurs(pid, startTime) === undefined;
}

export function readPidfile(file: string): PidState {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { kind: "none" };
  }
  const [first = "", second = ""] = text.split("\n").map((l) => l.trim());
  const pid = Number(first);
  if (!/^[0-9]+$/.test(first) || !Number.isSafeInteger(pid) || pid <= 0) return { kind: "stale", pid: 0, why: "it does not hold a PID" };
  const startTime = second || undefined;
  const why = notOurs(pid, startTime);
  return why ? { kind: "stale", pid, why } : { kind: "running", pid, startTime };
}

/**
 * Written once the listeners are bound, as a new file under an unguessable name opened with
 * O_EXCL|O_NOFOLLOW (a link planted in the folder is never written through), then renamed over
 * the pidfile (rename replaces a link at that path, never its target), so readers never see half.
 */
export function writePidfile(file: string, pid = process.pid): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(8).toString("hex")}.tmp`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  try {
    try {
      fs.writeSync(fd, `${pid}\n${ownStartTime(pid)}\n`);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes the pidfile only if it still names this process (a newer daemon may own it). */
export function removePidfile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, "utf8").split("\n")[0]?.trim()) === pid) fs.unlinkSync(file);
  } catch {
    // already gone
  }
}

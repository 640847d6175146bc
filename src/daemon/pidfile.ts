import * as fs from "node:fs";
import * as path from "node:path";

export type PidState = { kind: "none" } | { kind: "running"; pid: number } | { kind: "stale"; pid: number };

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readPidfile(file: string): PidState {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { kind: "none" };
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { kind: "stale", pid: 0 };
  return isAlive(pid) ? { kind: "running", pid } : { kind: "stale", pid };
}

/** Written only once the listeners are bound; temp file + rename, so readers never see half. */
export function writePidfile(file: string, pid = process.pid): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
  fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/** Removes the pidfile only if it still names this process (a newer daemon may own it). */
export function removePidfile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, "utf8").trim()) === pid) fs.unlinkSync(file);
  } catch {
    // already gone
  }
}

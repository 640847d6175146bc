import * as fs from "node:fs";

/** The soft RLIMIT_NOFILE of this process (Linux: /proc/self/limits), if it can be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    if (!soft || soft === "unlimited") return undefined;
    return Number(soft);
  } catch {
    return undefined;
  }
}

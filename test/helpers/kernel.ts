/** This host's kernel settings as the tests need them: whitespace-separated numbers under /proc/sys. */
import * as fs from "node:fs";

/** The numbers in `/proc/sys/<key>` (e.g. "net/ipv4/tcp_rmem"), or undefined where it cannot be read. */
export function procSysNumbers(key: string): number[] | undefined {
  try {
    const numbers = fs.readFileSync(`/proc/sys/${key}`, "utf8").trim().split(/\s+/).map(Number);
    return numbers.every(Number.isFinite) ? numbers : undefined;
  } catch {
    return undefined; // not Linux, or no /proc
  }
}

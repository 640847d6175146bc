import * as fs from "node:fs";

/** A process's resident set size in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "")) / 1024;
}

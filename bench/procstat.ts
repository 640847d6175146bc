/** CPU and process-tree readings from /proc for the benchmark's per-process CPU figures. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // the process is gone
  }
}

/**
 * CPU seconds a process has used so far, all its threads (0 if it is gone). From schedstat's
 * nanosecond run time: utime/stime tick at 10 ms, too coarse for a forked child that moves a
 * few MiB.
 */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    }
  } catch {
    // the process (or a thread) is gone
  }
  return ns / 1e9;
}

/** The process and all its live descendants (socat forks one child per connection). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(name));
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds of each process of a tree, to be compared with a later snapshot. */
export function cpuSnapshot(root: number): Map<number, number> {
  return new Map(processTree(root).map((pid) => [pid, cpuSeconds(pid)]));
}

/** CPU used between two snapshots by processes alive at the second (new ones count whole). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0);
  return total;
}

/** Resident set size in KiB, summed over a process tree. */
export function rssKb(root: number, wholeTree = false): number {
  let total = 0;
  for (const pid of wholeTree ? processTree(root) : [root]) {
    try {
      const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
      total += Number(line?.replace(/\D+/g, "") ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/**
 * Raises a running process's open-file limit to `limit` (prlimit(1); raising the hard limit needs
 * CAP_SYS_RESOURCE); where that is refused, raises the soft limit to the hard one, which any
 * process may. False if the process ends with less than `limit`.
 */
export function raiseOpenFiles(pid: number, limit: number): boolean {
  const prlimit = (value: string) => {
    try {
      execFileSync("prlimit", [`--pid=${pid}`, `--nofile=${value}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (prlimit(`${limit}:${limit}`)) return true;
  const hard = openFileLimits(pid)?.hard;
  if (hard !== undefined) prlimit(`${hard}:`);
  return false;
}

/** A process's soft and hard open-file limits (Infinity for unlimited), from /proc/<pid>/limits. */
export function openFileLimits(pid: number | "self"): { soft: number; hard: number } | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const [soft, hard] = (line?.split(/\s{2,}/) ?? []).slice(1, 3).map((v) => (v === "unlimited" ? Infinity : Number(v)));
    return soft !== undefined && hard !== undefined ? { soft, hard } : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors a process has open now. */
export function openFiles(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Whether this process may raise hard limits (CAP_SYS_RESOURCE, bit 24 of its effective set). */
export function canRaiseHardLimits(): boolean {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 24n)) !== 0n;
  } catch {
    return false;
  }
}

/**
 * Where a process's resident memory is, in kB, from /proc/<pid>/smaps: `cHeap` is glibc's main
 * heap ([heap], the brk area: OpenSSL, libuv, Node's Buffers), `anon` every other anonymous
 * mapping (V8's spaces, glibc's per-thread arenas, thread stacks), `file` mapped files (code).
 */
export function residentByKind(pid: number): { cHeap: number; anon: number; file: number } {
  const out = { cHeap: 0, anon: 0, file: 0 };
  let kind: keyof typeof out = "anon";
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
      const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      const name = m?.[1];
      if (name !== undefined) kind = name === "[heap]" ? "cHeap" : name === "" || name.startsWith("[") ? "anon" : "file";
      else if (line.startsWith("Rss:")) out[kind] += Number(line.replace(/\D+/g, ""));
    }
  } catch {
    // gone meanwhile
  }
  return out;
}

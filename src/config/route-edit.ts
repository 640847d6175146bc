import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, FileError, UsageError } from "../errors";
import { loadConfig, readConfigText } from "./load";
import { ROUTE_END_PATTERN } from "./schema";

/**
 * Edits of config.json's `routes`: the one implementation behind `frelay route add|rm` and the
 * control socket's /routes. The file stays the one truth: an edit is written atomically (temp
 * file + rename, every other key kept) only if the result is a valid config, and the running
 * relay applies it through its file watcher like any other change.
 *
 * Edits never lose each other: each one is synchronous from read to rename, so edits in one
 * process (concurrent control requests) run one after the other, and a lock file beside the
 * config serializes edits between processes (two CLIs with the daemon down, or a CLI and the
 * daemon).
 */
type RawRoutes = { routes?: { between: [string, string] }[] } & Record<string, unknown>;

/** How long an edit waits for another process's edit, and when a lock is taken as abandoned. */
const LOCK_WAIT_MS = 5000;
const LOCK_STALE_MS = 30_000;
const LOCK_RETRY_MS = 10;

function readRaw(configFile: string): RawRoutes {
  const text = readConfigText(configFile);
  try {
    return JSON.parse(text) as RawRoutes;
  } catch (err) {
    throw new ConfigError("FRELAY_ERR_CONFIG_INVALID", `${configFile} cannot be read as JSON (${(err as Error).message}); fix it first, "frelay check" shows how`);
  }
}

const sameRoute = (r: { between: [string, string] }, a: string, b: string) =>
  (r.between[0] === a && r.between[1] === b) || (r.between[0] === b && r.between[1] === a);

function checkEnd(end: unknown): asserts end is string {
  if (typeof end !== "string" || !new RegExp(ROUTE_END_PATTERN).test(end)) {
    throw new UsageError(`${JSON.stringify(end)} is not a route end (write an identity like 0.user1 or 0, or a wildcard like *.user1 or *)`);
  }
}

/** Runs `edit` holding `<config>.lock` (created exclusively; waits a bounded time for another holder). */
function withLock<T>(configFile: string, edit: () => T): T {
  const lock = `${configFile}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, "wx", 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new FileError("FRELAY_ERR_FILE", `${lock} cannot be created (${(err as NodeJS.ErrnoException).code}); the config's folder must be writable`);
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) fs.rmSync(lock, { force: true }); // its holder died mid-edit
      else if (Date.now() > deadline) throw new FileError("FRELAY_ERR_FILE", `${configFile} is being edited by another process (if none is, remove ${lock})`);
      else Atomics.wait(pause, 0, 0, LOCK_RETRY_MS); // an edit takes milliseconds: wait, synchronously
    }
  }
  try {
    return edit();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function writeChecked(configFile: string, raw: RawRoutes): void {
  const tmp = path.join(path.dirname(configFile), `.${path.basename(configFile)}.${process.pid}.tmp`);
  const mode = fs.statSync(configFile).mode & 0o777;
  fs.writeFileSync(tmp, `${JSON.stringify(raw, null, 2)}\n`, { mode });
  try {
    loadConfig(tmp);
    fs.renameSync(tmp, configFile);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function listRoutes(configFile: string): [string, string][] {
  return (readRaw(configFile).routes ?? []).map((r) => [r.between[0], r.between[1]]);
}

/** Adds the route a <-> b; returns the sentence to show. */
export function addRoute(configFile: string, a: unknown, b: unknown): string {
  checkEnd(a);
  checkEnd(b);
  if (a === b && !a.startsWith("*")) throw new UsageError(`a route needs two different ends (got ${a} twice)`);
  return withLock(configFile, () => {
    const raw = readRaw(configFile);
    const routes = raw.routes ?? [];
    if (routes.some((r) => sameRoute(r, a, b))) return `route ${a} <-> ${b} is already there`;
    raw.routes = [...routes, { between: [a, b] }];
    writeChecked(configFile, raw);
    return `added route ${a} <-> ${b}; a running relay applies it when it sees the file change`;
  });
}

/** Removes the route a <-> b; returns the sentence to show. */
export function removeRoute(configFile: string, a: unknown, b: unknown): string {
  checkEnd(a);
  checkEnd(b);
  return withLock(configFile, () => {
    const raw = readRaw(configFile);
    const routes = raw.routes ?? [];
    if (!routes.some((r) => sameRoute(r, a, b))) throw new ConfigError("FRELAY_ERR_ROUTE_NOT_FOUND", `no route ${a} <-> ${b} in ${configFile} ("frelay route ls" lists them)`);
    raw.routes = routes.filter((r) => !sameRoute(r, a, b));
    writeChecked(configFile, raw);
    return `removed route ${a} <-> ${b}; a running relay closes its sessions when it sees the file change`;
  });
}

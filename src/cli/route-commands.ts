import * as fs from "node:fs";
import * as path from "node:path";
import { loadConfig } from "../config/load";
import { ROUTE_END_PATTERN } from "../config/schema";
import { ConfigError, UsageError } from "../errors";
import type { Output } from "./output";

type RawRoutes = { routes?: { between: [string, string] }[] } & Record<string, unknown>;

function readRaw(configFile: string): RawRoutes {
  try {
    return JSON.parse(fs.readFileSync(configFile, "utf8")) as RawRoutes;
  } catch (err) {
    throw new ConfigError("FRELAY_ERR_CONFIG_INVALID", `${configFile} cannot be read as JSON (${(err as Error).message}); fix it first, "frelay check" shows how`);
  }
}

const sameRoute = (r: { between: [string, string] }, a: string, b: string) =>
  (r.between[0] === a && r.between[1] === b) || (r.between[0] === b && r.between[1] === a);

function checkEnd(end: string): void {
  if (!new RegExp(ROUTE_END_PATTERN).test(end)) {
    throw new UsageError(`"${end}" is not a route end (write an identity like 0.user1 or 0, or a wildcard like *.user1 or *)`);
  }
}

/**
 * Writes the edited config atomically (temp file in the same folder, then rename), keeping
 * every other key, and only if the result is a valid config: a bad edit never lands.
 */
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

export function cmdRouteLs(configFile: string, io: Output): number {
  for (const r of readRaw(configFile).routes ?? []) io.out(`${r.between[0]} <-> ${r.between[1]}`);
  return 0;
}

export function cmdRouteAdd(configFile: string, a: string, b: string, io: Output): number {
  checkEnd(a);
  checkEnd(b);
  if (a === b && !a.startsWith("*")) throw new UsageError(`a route needs two different ends (got ${a} twice)`);
  const raw = readRaw(configFile);
  const routes = raw.routes ?? [];
  if (routes.some((r) => sameRoute(r, a, b))) {
    io.out(`route ${a} <-> ${b} is already there`);
    return 0;
  }
  raw.routes = [...routes, { between: [a, b] }];
  writeChecked(configFile, raw);
  io.out(`added route ${a} <-> ${b}; a running relay applies it when it sees the file change`);
  return 0;
}

export function cmdRouteRm(configFile: string, a: string, b: string, io: Output): number {
  const raw = readRaw(configFile);
  const routes = raw.routes ?? [];
  if (!routes.some((r) => sameRoute(r, a, b))) throw new ConfigError("FRELAY_ERR_ROUTE_NOT_FOUND", `no route ${a} <-> ${b} in ${configFile} ("frelay route ls" lists them)`);
  raw.routes = routes.filter((r) => !sameRoute(r, a, b));
  writeChecked(configFile, raw);
  io.out(`removed route ${a} <-> ${b}; a running relay closes its sessions when it sees the file change`);
  return 0;
}

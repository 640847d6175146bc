import { readDaemonPaths } from "../config/load";
import { addRoute, listRoutes, removeRoute } from "../config/route-edit";
import { controlRequest } from "../daemon/control-client";
import { FrelayError, type FrelayErrorCode } from "../errors";
import type { Output } from "./output";

/**
 * `frelay route`: with the daemon running, the edit goes through its control socket (POST or
 * DELETE /routes), which runs the same code on the same file; with no daemon, it is made here.
 * Either way the file is the one truth and the answer is the same sentence.
 */
async function viaDaemon(configFile: string, method: "POST" | "DELETE", a: string, b: string): Promise<string | undefined> {
  const { controlSocket } = readDaemonPaths(configFile);
  let r;
  try {
    r = await controlRequest(controlSocket, method, "/routes", 10_000, { between: [a, b] });
  } catch {
    return undefined; // no daemon answering: edit the file here
  }
  const body = r.body as { message?: string; code?: FrelayErrorCode; details?: string[] };
  if (r.status === 200 && body.message) return body.message;
  if (r.status === 404 && !body.code) return undefined; // a daemon from before /routes existed
  throw new FrelayError(body.code ?? "FRELAY_ERR_CONTROL", body.message ?? `the daemon answered ${r.status}`, body.details ?? []);
}

export function cmdRouteLs(configFile: string, io: Output): number {
  for (const [a, b] of listRoutes(configFile)) io.out(`${a} <-> ${b}`);
  return 0;
}

export async function cmdRouteAdd(configFile: string, a: string, b: string, io: Output): Promise<number> {
  io.out((await viaDaemon(configFile, "POST", a, b)) ?? addRoute(configFile, a, b));
  return 0;
}

export async function cmdRouteRm(configFile: string, a: string, b: string, io: Output): Promise<number> {
  io.out((await viaDaemon(configFile, "DELETE", a, b)) ?? removeRoute(configFile, a, b));
  return 0;
}

/** `frelay connect`: flags and environment made into party settings, then the stdio, --listen or --forward mode (client/modes.ts). */
import { runForward, runListen, runStdio } from "../client/modes";
import { resolveSettings, type PartySettings } from "../client/settings";
import { UsageError } from "../errors";
import type { Output } from "./output";

export interface ConnectFlags extends Partial<Record<keyof PartySettings, string>> {
  h2?: boolean;
  path?: string;
  listen?: string;
  forward?: string;
  timeout?: string;
  relayName?: string;
}

export async function cmdConnect(dest: string | undefined, flags: ConnectFlags, io: Output): Promise<number> {
  const { listen, forward, timeout, h2, path, relayName, ...settingFlags } = flags;
  if (listen && forward) throw new UsageError("--listen and --forward cannot be combined (pick one mode)");
  const settings = resolveSettings({ ...settingFlags, ...(dest ? { dest } : {}) }, process.env);
  const timeoutMs = timeout === undefined ? undefined : Number(timeout) * 1000;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError(`--timeout ${timeout} is not a number of seconds above 0`);
  const name = relayName ?? process.env["RELAY_NAME"];
  const opts = { ...settings, ...(timeoutMs ? { timeoutMs } : {}), ...(name ? { relayName: name } : {}), ...(h2 ? { transport: "h2" as const, path: path ?? "/frelay" } : {}) };
  if (listen) {
    const h = await runListen(opts, listen, io.err);
    io.err(`frelay connect: listening on ${h.address?.address}:${h.address?.port}; each connection is relayed to ${settings.dest}`);
    return new Promise(() => undefined); // runs until killed
  }
  if (forward) {
    runForward(opts, forward, io.err);
    io.err(`frelay connect: waiting at ${settings.relay} for ${settings.dest}; sessions go to ${forward}`);
    return new Promise(() => undefined);
  }
  await runStdio(opts, process.stdin, process.stdout);
  return 0;
}

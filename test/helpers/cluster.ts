import * as fs from "node:fs";
import * as path from "node:path";
import { createNodeCert } from "../../src/pki/operations";
import { BASE_CONFIG, type Fixture } from "./fixture";
import { startForeground, type RunningRelay } from "./cli";

export interface ClusterNodeProc extends RunningRelay {
  name: string;
  configFile: string;
  /** host:port of its node-to-node link, from its log. */
  peerAddress: string;
}

/** Writes node `name`'s own config.json (same PKI and routes; own pidfile, socket, log), making its node certificate once. */
export function writeNodeConfig(fx: Fixture, name: string, redisUrl: string, overrides: Record<string, unknown> = {}): string {
  if (!fs.existsSync(path.join(fx.certsDir, "nodes", name, "node.pem"))) createNodeCert(fx.certsDir, name, 2048, false);
  const file = path.join(fx.dir, `node-${name}.json`);
  const config = {
    ...BASE_CONFIG,
    pidfile: `node-${name}.pid`,
    control_socket: `node-${name}.sock`,
    log: { file: `node-${name}.log`, level: "debug" },
    cluster: { redis: redisUrl, node: name, peer_address: "127.0.0.1:0" },
    ...overrides,
  };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** A relay node in the foreground, with its link address read from its log. */
export async function startNode(fx: Fixture, name: string, redisUrl: string, overrides: Record<string, unknown> = {}, args: string[] = []): Promise<ClusterNodeProc> {
  const configFile = writeNodeConfig(fx, name, redisUrl, overrides);
  // Several processes start at once on a shared machine: give them time.
  const relay = await startForeground(configFile, [], { args, readyMs: 30_000 });
  const link = await relay.waitFor((e) => e["event"] === "listen" && e["transport"] === "cluster-link");
  return Object.assign(relay, { name, configFile, peerAddress: String(link["address"]) });
}

/** The CLI's cluster pieces: `frelay cert node`, the Redis probe of `frelay check`, and the cluster and worker lines of `frelay status`. */
import * as path from "node:path";
import type { ClusterStatus } from "../cluster/cluster-node";
import { redactedUrl } from "../cluster/wiring";
import { ACCEPT_TEXT, type AcceptMode } from "../cluster/workers";
import type { RelayConfig } from "../config/load";
import { ConfigError } from "../errors";
import { assertBits } from "../pki/certs";
import { createNodeCert } from "../pki/operations";
import type { Output } from "./output";

function rel(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

/** `frelay cert node <name>`: the node certificate for the scale-out link. */
export function cmdCertNode(configFile: string, node: string, opts: { bits: string; force?: boolean; relayCaDir?: string }, io: Output): number {
  const certsDir = path.join(path.dirname(configFile), "certs");
  const files = createNodeCert(certsDir, node, assertBits(Number(opts.bits)), !!opts.force, opts.relayCaDir ? path.resolve(opts.relayCaDir) : undefined);
  for (const f of files) io.out(`created ${rel(f)}`);
  io.out(`use it with "cluster": { "node": "${node}", ... } in that node's config.json (a node certificate can never connect as a party)`);
  return 0;
}

/** `frelay check` with a cluster section: Redis must answer, or the check fails naming it. */
export async function checkClusterRedis(config: RelayConfig, io: Output): Promise<void> {
  if (!config.cluster) return;
  const url = redactedUrl(config.cluster.redis);
  // Imported only here: a check without a cluster section never loads the Redis client.
  const { probeRedis } = await import("../cluster/redis-store");
  const r = await probeRedis(config.cluster.redis);
  if (!r.ok) {
    throw new ConfigError("FRELAY_ERR_CONFIG_INVALID", `cluster.redis: cannot reach ${url} (${r.reason}); start Redis there or fix cluster.redis`);
  }
  io.out(`cluster: Redis at ${url} answered in ${r.rttMs.toFixed(1)} ms`);
}

export function clusterStatusLines(c: ClusterStatus | null | undefined): string[] {
  if (!c) return [];
  const rtt = c.redis_rtt_ms === null ? "" : `, rtt ${c.redis_rtt_ms} ms`;
  return [
    `  cluster:     node ${c.node} at ${c.peer_address}; Redis ${c.redis === "up" ? `up${rtt}` : "DOWN (pairing local parties only)"}`,
    `               ${c.cross_node_sessions} cross-node sessions, ${c.claims_lost} claims lost to races, ${c.link_errors} link errors`,
  ];
}

/** What the primary of `start --workers N` reports for each worker (its own status, or why it has none). */
export interface WorkerStatusEntry {
  worker: number;
  pid?: number;
  waiting?: number;
  active_sessions?: number;
  connections?: number;
  cluster?: ClusterStatus | null;
  error?: string;
}

/** One line per worker of `start --workers N`, then how they accept. */
export function workerStatusLines(workers: WorkerStatusEntry[] | undefined, accept?: AcceptMode): string[] {
  if (!workers) return [];
  return [
    `  workers:     ${workers.length}`,
    ...workers.map((w) => {
      if (w.error) return `    worker ${w.worker}: ${w.error}`;
      const c = w.cluster;
      return `    worker ${w.worker}: pid ${w.pid ?? "-"}, node ${c?.node ?? "-"}, ${w.waiting ?? 0} waiting, ${w.active_sessions ?? 0} sessions, ${w.connections ?? 0} connections, Redis ${c?.redis ?? "-"}, ${c?.handovers ?? 0} hand-overs`;
    }),
    ...(accept ? [`  accepting:   ${ACCEPT_TEXT[accept]}`] : []),
  ];
}

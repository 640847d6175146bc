import type { RelayConfig } from "../config/load";
import type { Logger } from "../log/logger";
import type { PairingCore } from "../relay/pairing-core";
import type { Registry } from "prom-client";
import type { ClusterNode, ConnectionLoad } from "./cluster-node";

/**
 * The daemon's one entry to the cluster: a ClusterNode joined to `relay` when config.json has a
 * `cluster` section, else nothing at all (no Redis client is even created).
 */
export function joinCluster(config: RelayConfig, relay: PairingCore, pairMs: () => number, log: Logger, registry: Registry, load: () => ConnectionLoad): ClusterNode | undefined {
  if (!config.cluster) return undefined;
  // Loaded here, not imported at the top: a relay without a cluster section never loads the
  // Redis client (nor needs it installed). A synchronous require keeps RelayHost's constructor
  // synchronous; the module is plain TypeScript of this package.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ClusterNode: Node } = require("./cluster-node") as { ClusterNode: typeof ClusterNode };
  const link = { caPem: config.tls.caPem, certPem: config.cluster.certPem, keyPem: config.cluster.keyPem, ...(config.tls.crlPem ? { crlPem: config.tls.crlPem } : {}) };
  const node = new Node(config.cluster, link, relay, pairMs, log, registry, load);
  relay.useSharedRendezvous(node);
  return node;
}

/**
 * What a reload cannot change: the cluster section (and the node certificate) are read at
 * start. Returns a sentence for the reload result, or undefined when nothing changed.
 */
export function clusterChangeNotice(prev: RelayConfig, next: RelayConfig): string | undefined {
  const a = prev.cluster;
  const b = next.cluster;
  const same =
    a === b ||
    (a !== undefined &&
      b !== undefined &&
      a.redis === b.redis &&
      a.node === b.node &&
      a.peerAddress.text === b.peerAddress.text &&
      a.workers === b.workers &&
      a.certPem === b.certPem &&
      a.keyPem === b.keyPem);
  return same ? undefined : "cluster settings changed: they take effect when frelay is restarted (the running cluster settings are kept)";
}

/** A Redis URL without its password, for output and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * Said by `frelay start` when the node came up without its Redis: it runs, but pairs only its
 * own parties until Redis answers. Undefined when Redis answered (or there is no cluster).
 */
export function clusterStartWarning(config: RelayConfig, node: ClusterNode | undefined): string | undefined {
  if (!node || !config.cluster || node.status().redis === "up") return undefined;
  return `cluster.redis ${redactedUrl(config.cluster.redis)} cannot be reached: this node pairs only its own parties until Redis answers (it keeps trying; see "frelay status")`;
}

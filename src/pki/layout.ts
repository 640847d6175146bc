import * as path from "node:path";

/** The default file layout under `certs/` (docs/operations.md, "Certificates and files"). */
export interface RelayCaFiles { cert: string; key: string }

export function relayCaFiles(dir: string): RelayCaFiles {
  return { cert: path.join(dir, "relay-ca.pem"), key: path.join(dir, "relay-ca.key") };
}

export function relayServerFiles(certsDir: string): RelayCaFiles {
  return { cert: path.join(certsDir, "relay.pem"), key: path.join(certsDir, "relay.key") };
}

export function crlFile(certsDir: string): string {
  return path.join(certsDir, "relay.crl");
}

export function userCaDir(certsDir: string, user: string): string {
  return path.join(certsDir, "users", user);
}

export function userCaFiles(dir: string): RelayCaFiles {
  return { cert: path.join(dir, "ca.pem"), key: path.join(dir, "ca.key") };
}

export interface PartyFiles {
  dir: string;
  relayCert: string;
  relayKey: string;
  partyCert: string;
  partyKey: string;
  env: string;
}

export function partyFiles(certsDir: string, identity: string): PartyFiles {
  const dir = path.join(certsDir, "parties", identity);
  return {
    dir,
    relayCert: path.join(dir, "relay.pem"),
    relayKey: path.join(dir, "relay.key"),
    partyCert: path.join(dir, "party.pem"),
    partyKey: path.join(dir, "party.key"),
    env: path.join(dir, "party.env"),
  };
}

/** A scale-out node's certificate for the node-to-node link. */
export function nodeCertFiles(certsDir: string, node: string): RelayCaFiles {
  const dir = path.join(certsDir, "nodes", node);
  return { cert: path.join(dir, "node.pem"), key: path.join(dir, "node.key") };
}

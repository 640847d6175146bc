import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PartySettings } from "../../src/client/settings";
import { createParty, createUserCa, initRelayPki } from "../../src/pki/operations";
import { partyFiles, relayCaFiles } from "../../src/pki/layout";
import type { KeyType } from "../../src/pki/certs";

/** A temporary relay folder with a real PKI made at test time, and helpers around it. */
export interface Fixture {
  dir: string;
  certsDir: string;
  configFile: string;
  writeConfig(overrides?: Record<string, unknown>): void;
  party(identity: string, dest: string, relay: string, tag?: string): PartySettings;
  cleanup(): void;
}

export const BASE_CONFIG = {
  address: "127.0.0.1:0",
  tls: { ca: "certs/relay-ca.pem", cert: "certs/relay.pem", key: "certs/relay.key", crl: "certs/relay.crl" },
  routes: [{ between: ["0.user1", "1.user1"] }, { between: ["2.user1", "3.user1"] }, { between: ["hub.flock", "*.flock"] }],
  timeouts: { handshake: "2s", pair: "3s", idle: "0s", drain: "2s" },
  log: { level: "debug" },
};

/** Parties made for every fixture: enough for routes, wildcards and a forbidden pair. */
const PARTIES: [string, string][] = [["0", "user1"], ["1", "user1"], ["2", "user1"], ["3", "user1"], ["hub", "flock"], ["a", "flock"], ["0", "user2"]];

/** `keyType: "ec"` makes every key and certificate ECDSA P-256 (the default is RSA-2048). */
export function makeFixture(parties: [string, string][] = PARTIES, opts: { keyType?: KeyType } = {}): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-test-"));
  const certsDir = path.join(dir, "certs");
  const keyType = opts.keyType ?? "rsa";
  initRelayPki({ certsDir, hostnames: [], bits: 2048, keyType, force: false });
  const users = new Set(parties.map(([, u]) => u));
  for (const u of users) createUserCa(certsDir, u, 2048, false, keyType);
  for (const [p, u] of parties) createParty({ certsDir, party: p, user: u, bits: 2048, keyType, force: false, relayAddress: "127.0.0.1:6000" });
  const configFile = path.join(dir, "config.json");
  const fx: Fixture = {
    dir,
    certsDir,
    configFile,
    writeConfig(overrides = {}) {
      fs.writeFileSync(configFile, JSON.stringify({ ...BASE_CONFIG, ...overrides }, null, 2));
    },
    party(identity, dest, relay, tag = "") {
      const f = partyFiles(certsDir, identity);
      const user = identity.slice(identity.indexOf(".") + 1);
      const read = (p: string) => fs.readFileSync(p, "utf8");
      return {
        relay,
        relayCa: read(relayCaFiles(certsDir).cert),
        relayCert: read(f.relayCert),
        relayKey: read(f.relayKey),
        userCa: read(path.join(certsDir, "users", user, "ca.pem")),
        partyCert: read(f.partyCert),
        partyKey: read(f.partyKey),
        dest,
        tag,
      };
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  fx.writeConfig();
  return fx;
}

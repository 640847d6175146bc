import * as crypto from "node:crypto";
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

/** Where `npm test`'s runner (run-suite.ts) keeps the PKIs it has made in this run. */
export const FIXTURE_CACHE_ENV = "FRELAY_FIXTURE_CACHE";

/** A relay CA, its certificate and CRL, user CAs and `parties`, made as `frelay init` and `frelay cert` make them. */
function makePki(certsDir: string, parties: [string, string][], keyType: KeyType): void {
  initRelayPki({ certsDir, hostnames: [], bits: 2048, keyType, force: false });
  const users = new Set(parties.map(([, u]) => u));
  for (const u of users) createUserCa(certsDir, u, 2048, false, keyType);
  for (const [p, u] of parties) createParty({ certsDir, party: p, user: u, bits: 2048, keyType, force: false, relayAddress: "127.0.0.1:6000" });
}

/**
 * Fills `certsDir` with a PKI for `parties`. Within one `npm test` run, fixtures with the same
 * parties and key type share one PKI, made at the first request and copied for each: making it
 * (about twenty RSA keys) cost seconds per suite on a loaded machine, and the suites never
 * compare two such fixtures' CAs. The copy is the fixture's own: revoking or re-issuing in it
 * touches no other suite. `fresh` (or a run outside run-suite) makes one of its own.
 */
function providePki(certsDir: string, parties: [string, string][], keyType: KeyType, fresh: boolean): void {
  const cacheRoot = process.env[FIXTURE_CACHE_ENV];
  if (fresh || !cacheRoot || !fs.existsSync(cacheRoot)) return makePki(certsDir, parties, keyType);
  const key = crypto.createHash("sha256").update(JSON.stringify([keyType, parties])).digest("hex").slice(0, 16);
  const cached = path.join(cacheRoot, key);
  if (!fs.existsSync(cached)) {
    // Made aside and published with one rename: test files run in parallel processes, and a
    // loser of the race finds the winner's PKI in place (rename onto a full folder fails).
    const scratch = fs.mkdtempSync(path.join(cacheRoot, `.${key}-`));
    makePki(path.join(scratch, "certs"), parties, keyType);
    try {
      fs.renameSync(path.join(scratch, "certs"), cached);
    } catch (err) {
      if (!["EEXIST", "ENOTEMPTY"].includes(String((err as NodeJS.ErrnoException).code))) throw err;
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  fs.cpSync(cached, certsDir, { recursive: true });
}

/**
 * `keyType: "ec"` makes every key and certificate ECDSA P-256 (the default is RSA-2048);
 * `fresh: true` gives the fixture a PKI nobody else in the run has (a stranger's CA).
 */
export function makeFixture(parties: [string, string][] = PARTIES, opts: { keyType?: KeyType; fresh?: boolean } = {}): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-test-"));
  const certsDir = path.join(dir, "certs");
  providePki(certsDir, parties, opts.keyType ?? "rsa", opts.fresh ?? false);
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

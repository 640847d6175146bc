import * as fs from "node:fs";
import * as path from "node:path";
import { FrelayError } from "../errors";
import { buildCrl, commonNameOf, issueCertificate, serialOf, type KeyAndCert, type KeyBits, type RevokedEntry } from "./certs";
import { CERT_MODE, KEY_MODE, readText, writeAtomic, writeNewFile } from "./files";
import { isIdentity, isLabel, isUserName } from "./identity";
import { crlFile, partyFiles, relayCaFiles, relayServerFiles, userCaDir, userCaFiles, type RelayCaFiles } from "./layout";

const CA_DAYS = 3650;
const LEAF_DAYS = 825;
export const RELAY_SERVER_NAMES = ["frelay", "flockrelay", "localhost", "127.0.0.1"] as const;

function exists(file: string): boolean {
  return fs.existsSync(file);
}

function writePair(files: RelayCaFiles, pair: KeyAndCert, force: boolean): void {
  writeNewFile(files.key, pair.keyPem, KEY_MODE, force);
  writeNewFile(files.cert, pair.certPem, CERT_MODE, force);
}

function loadPair(files: RelayCaFiles, what: string, hint: string): KeyAndCert {
  if (!exists(files.key) || !exists(files.cert)) {
    throw new FrelayError("FRELAY_ERR_PKI", `${what} not found at ${files.cert} and ${files.key} (${hint})`);
  }
  return { certPem: readText(files.cert, what), keyPem: readText(files.key, what) };
}

export interface InitOptions {
  certsDir: string;
  hostnames: readonly string[];
  bits: KeyBits;
  force: boolean;
}

/** Creates the relay CA, the relay server certificate and an empty CRL, each only if absent. */
export function initRelayPki(opts: InitOptions): string[] {
  const created: string[] = [];
  const caFiles = relayCaFiles(opts.certsDir);
  let ca: KeyAndCert;
  const newCa = opts.force || !exists(caFiles.key);
  if (newCa) {
    if (!opts.force && exists(caFiles.cert)) {
      throw new FrelayError("FRELAY_ERR_EXISTS", `${caFiles.cert} exists without its key ${caFiles.key} (restore the key, or use --force to make a new CA)`);
    }
    ca = issueCertificate({ commonName: "frelay relay CA", usage: "ca", days: CA_DAYS, bits: opts.bits });
    writePair(caFiles, ca, opts.force);
    created.push(caFiles.cert, caFiles.key);
  } else {
    ca = loadPair(caFiles, "relay CA", "run frelay init --force");
  }

  const serverFiles = relayServerFiles(opts.certsDir);
  // A new CA invalidates the old server certificate, so it is re-issued with it.
  if (newCa || !exists(serverFiles.key)) {
    const names = [...new Set([...RELAY_SERVER_NAMES, ...opts.hostnames])];
    const server = issueCertificate({ commonName: "frelay", usage: "server", days: LEAF_DAYS, bits: opts.bits, altNames: names, issuer: ca });
    writePair(serverFiles, server, newCa || opts.force);
    created.push(serverFiles.cert, serverFiles.key);
  }

  const crl = crlFile(opts.certsDir);
  if (newCa || !exists(crl)) {
    writeAtomic(crl, buildCrl(ca, []), CERT_MODE);
    writeAtomic(revokedListFile(opts.certsDir), "[]\n", CERT_MODE);
    created.push(crl);
  }
  return created;
}

export function createUserCa(certsDir: string, user: string, bits: KeyBits, force: boolean): string[] {
  if (!isUserName(user)) {
    throw new FrelayError("FRELAY_ERR_USAGE", `user name "${user}" is not valid (use DNS labels: letters, digits and '-', 1-63 characters each)`);
  }
  const files = userCaFiles(userCaDir(certsDir, user));
  const ca = issueCertificate({ commonName: `frelay user CA ${user}`, usage: "ca", days: CA_DAYS, bits });
  writePair(files, ca, force);
  return [files.cert, files.key];
}

export interface PartyOptions {
  certsDir: string;
  party: string;
  user: string;
  bits: KeyBits;
  force: boolean;
  relayCaDir?: string;
  userCaDir?: string;
  /** host:port written as RELAY into party.env. */
  relayAddress: string;
}

export function createParty(opts: PartyOptions): string[] {
  if (!isLabel(opts.party)) {
    throw new FrelayError("FRELAY_ERR_USAGE", `party name "${opts.party}" is not valid (use one DNS label: letters, digits and '-', 1-63 characters)`);
  }
  const identity = `${opts.party}.${opts.user}`;
  if (!isUserName(opts.user) || !isIdentity(identity)) {
    throw new FrelayError("FRELAY_ERR_USAGE", `user name "${opts.user}" is not valid (use DNS labels: letters, digits and '-', 1-63 characters each)`);
  }
  const relayCa = loadPair(relayCaFiles(opts.relayCaDir ?? opts.certsDir), "relay CA", "run frelay init, or pass --relay-ca-dir");
  const userCa = loadPair(userCaFiles(opts.userCaDir ?? userCaDir(opts.certsDir, opts.user)), `user CA of ${opts.user}`, `run frelay cert user ${opts.user}, or pass --user-ca-dir`);
  const files = partyFiles(opts.certsDir, identity);
  if (!opts.force) {
    for (const f of [files.relayKey, files.relayCert, files.partyKey, files.partyCert, files.env]) {
      if (exists(f)) throw new FrelayError("FRELAY_ERR_EXISTS", `${f} already exists (use --force to replace it)`);
    }
  }
  const relayCert = issueCertificate({ commonName: identity, usage: "client", days: LEAF_DAYS, bits: opts.bits, altNames: [identity], issuer: relayCa });
  const partyCert = issueCertificate({ commonName: identity, usage: "peer", days: LEAF_DAYS, bits: opts.bits, altNames: [identity], issuer: userCa });
  writePair({ cert: files.relayCert, key: files.relayKey }, relayCert, opts.force);
  writePair({ cert: files.partyCert, key: files.partyKey }, partyCert, opts.force);
  const env = partyEnv({
    RELAY: opts.relayAddress,
    RELAY_CA: relayCa.certPem,
    RELAY_CERT: relayCert.certPem,
    RELAY_KEY: relayCert.keyPem,
    USER_CA: userCa.certPem,
    PARTY_CERT: partyCert.certPem,
    PARTY_KEY: partyCert.keyPem,
  });
  writeNewFile(files.env, env, KEY_MODE, opts.force);
  return [files.relayCert, files.relayKey, files.partyCert, files.partyKey, files.env];
}

/** A shell file: `set -a; . ./party.env` exports every value, PEM text with its newlines. */
function partyEnv(values: Record<string, string>): string {
  const lines = ["# frelay party settings: (set -a; . ./party.env; DEST=<peer> frelay connect)"];
  for (const [name, value] of Object.entries(values)) {
    // PEM and host:port never contain a single quote, so single quotes need no escaping.
    lines.push(`${name}='${value.trimEnd()}'`);
  }
  return `${lines.join("\n")}\n`;
}

/** Serials revoked so far, kept beside the CRL because node-forge cannot parse CRLs. */
function revokedListFile(certsDir: string): string {
  return path.join(certsDir, "revoked.json");
}

export function revokeParty(certsDir: string, identity: string, relayCaDir?: string): { crl: string; serial: string } {
  if (!isIdentity(identity)) {
    throw new FrelayError("FRELAY_ERR_USAGE", `"${identity}" is not an identity (use <party>.<user>, e.g. 0.user1)`);
  }
  const files = partyFiles(certsDir, identity);
  const certPem = readText(files.relayCert, `relay certificate of ${identity}`);
  if (commonNameOf(certPem) !== identity) {
    throw new FrelayError("FRELAY_ERR_PKI", `${files.relayCert} is not the relay certificate of ${identity}`);
  }
  const serial = serialOf(certPem);
  const ca = loadPair(relayCaFiles(relayCaDir ?? certsDir), "relay CA", "run frelay init, or pass --relay-ca-dir");
  const listFile = revokedListFile(certsDir);
  const list: (RevokedEntry & { identity: string })[] = exists(listFile) ? JSON.parse(readText(listFile, "revocation list")) : [];
  if (!list.some((e) => e.serial === serial)) list.push({ serial, identity, date: new Date().toISOString() });
  const crl = crlFile(certsDir);
  writeAtomic(crl, buildCrl(ca, list), CERT_MODE);
  writeAtomic(listFile, `${JSON.stringify(list, null, 2)}\n`, CERT_MODE);
  return { crl, serial };
}

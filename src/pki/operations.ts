/** The PKI operations behind the CLI, over the certs/ layout: init, user CAs, parties and party.env, revocation and the CRL, node certificates. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { parseHostPort } from "../config/address";
import { FileError, FrelayError, PkiError, UsageError } from "../errors";
import { buildCrl, commonNameOf, crlSignedBy, issueCertificate, parseCrl, serialOf, type KeyAndCert, type KeyBits, type KeyType, type ParsedCrl, type RevokedEntry } from "./certs";
import { CERT_MODE, KEY_MODE, readText, writeAtomic, writeNewFile } from "./files";
import { isIdentity, isLabel, isUserName, normalizeSerial } from "./identity";
import { crlFile, nodeCertFiles, partyFiles, relayCaFiles, relayServerFiles, userCaDir, userCaFiles, type RelayCaFiles } from "./layout";
import { NODE_OU, nodeCommonName } from "./node-identity";

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
    throw new PkiError(`${what} not found at ${files.cert} and ${files.key} (${hint})`);
  }
  return { certPem: readText(files.cert, what), keyPem: readText(files.key, what) };
}

export interface InitOptions {
  certsDir: string;
  hostnames: readonly string[];
  bits: KeyBits;
  /** RSA of `bits` (the default), or ECDSA P-256. */
  keyType?: KeyType;
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
      throw new FileError("FRELAY_ERR_EXISTS", `${caFiles.cert} exists without its key ${caFiles.key} (restore the key, or use --force to make a new CA)`);
    }
    ca = issueCertificate({ commonName: "frelay relay CA", usage: "ca", days: CA_DAYS, bits: opts.bits, ...keyTypeOf(opts) });
    writePair(caFiles, ca, opts.force);
    created.push(caFiles.cert, caFiles.key);
  } else {
    ca = loadPair(caFiles, "relay CA", "run frelay init --force");
  }

  const serverFiles = relayServerFiles(opts.certsDir);
  // A new CA invalidates the old server certificate, so it is re-issued with it.
  if (newCa || !exists(serverFiles.key)) {
    const names = [...new Set([...RELAY_SERVER_NAMES, ...opts.hostnames])];
    const server = issueCertificate({ commonName: "frelay", usage: "server", days: LEAF_DAYS, bits: opts.bits, ...keyTypeOf(opts), altNames: names, issuer: ca });
    writePair(serverFiles, server, newCa || opts.force);
    created.push(serverFiles.cert, serverFiles.key);
  }

  const crl = crlFile(opts.certsDir);
  if (newCa) {
    // A new CA starts a new history: nothing it signed has been issued or revoked yet.
    writeAtomic(crl, buildCrl(ca, []), CERT_MODE);
    writeAtomic(revokedListFile(opts.certsDir), "[]\n", CERT_MODE);
    writeAtomic(issuedListFile(opts.certsDir), "[]\n", CERT_MODE);
    created.push(crl);
  } else if (!exists(crl)) {
    // Same CA, CRL gone: rebuilt from the revocation list, so no revocation is lost.
    writeAtomic(crl, buildCrl(ca, readJsonList<RevokedRecord>(revokedListFile(opts.certsDir), "revocation list")), CERT_MODE);
    created.push(crl);
  }
  return created;
}

/** The optional keyType field, left out when absent (exactOptionalPropertyTypes-friendly). */
function keyTypeOf(o: { keyType?: KeyType }): { keyType?: KeyType } {
  return o.keyType ? { keyType: o.keyType } : {};
}

export function createUserCa(certsDir: string, user: string, bits: KeyBits, force: boolean, keyType?: KeyType): string[] {
  if (!isUserName(user)) {
    throw new UsageError(`user name "${user}" is not valid (use DNS labels: letters, digits and '-', 1-63 characters each)`);
  }
  const files = userCaFiles(userCaDir(certsDir, user));
  const ca = issueCertificate({ commonName: `frelay user CA ${user}`, usage: "ca", days: CA_DAYS, bits, ...(keyType ? { keyType } : {}) });
  writePair(files, ca, force);
  return [files.cert, files.key];
}

export interface PartyOptions {
  certsDir: string;
  party: string;
  user: string;
  bits: KeyBits;
  /** RSA of `bits` (the default), or ECDSA P-256, for both of the party's certificates. */
  keyType?: KeyType;
  force: boolean;
  relayCaDir?: string;
  userCaDir?: string;
  /** host:port written as RELAY into party.env. */
  relayAddress: string;
}

export function createParty(opts: PartyOptions): PartyResult {
  if (!isLabel(opts.party)) {
    throw new UsageError(`party name "${opts.party}" is not valid (use one DNS label: letters, digits and '-', 1-63 characters)`);
  }
  const identity = `${opts.party}.${opts.user}`;
  if (!isUserName(opts.user) || !isIdentity(identity)) {
    throw new UsageError(`user name "${opts.user}" is not valid (use DNS labels: letters, digits and '-', 1-63 characters each)`);
  }
  const relayAddress = checkRelayAddress(opts.relayAddress);
  const relayCa = loadPair(relayCaFiles(opts.relayCaDir ?? opts.certsDir), "relay CA", "run frelay init, or pass --relay-ca-dir");
  const userCa = loadPair(userCaFiles(opts.userCaDir ?? userCaDir(opts.certsDir, opts.user)), `user CA of ${opts.user}`, `run frelay cert user ${opts.user}, or pass --user-ca-dir`);
  const files = partyFiles(opts.certsDir, identity);
  if (!opts.force) {
    for (const f of [files.relayKey, files.relayCert, files.partyKey, files.partyCert, files.env]) {
      if (exists(f)) throw new FileError("FRELAY_ERR_EXISTS", `${f} already exists (use --force to replace it)`);
    }
  }
  // The certificate being replaced may have leaked (that is often why it is replaced): it is
  // revoked below, once its successor is written.
  const replaced = exists(files.relayCert) ? replacedSerial(files.relayCert, identity) : undefined;
  const relayCert = issueCertificate({ commonName: identity, usage: "client", days: LEAF_DAYS, bits: opts.bits, ...keyTypeOf(opts), altNames: [identity], issuer: relayCa });
  const partyCert = issueCertificate({ commonName: identity, usage: "peer", days: LEAF_DAYS, bits: opts.bits, ...keyTypeOf(opts), altNames: [identity], issuer: userCa });
  recordIssued(opts.certsDir, identity, relayCert.certPem);
  writePair({ cert: files.relayCert, key: files.relayKey }, relayCert, opts.force);
  writePair({ cert: files.partyCert, key: files.partyKey }, partyCert, opts.force);
  const env = partyEnv({
    RELAY: relayAddress,
    RELAY_CA: relayCa.certPem,
    RELAY_CERT: relayCert.certPem,
    RELAY_KEY: relayCert.keyPem,
    USER_CA: userCa.certPem,
    PARTY_CERT: partyCert.certPem,
    PARTY_KEY: partyCert.keyPem,
  });
  writeNewFile(files.env, env, KEY_MODE, opts.force);
  const created = [files.relayCert, files.relayKey, files.partyCert, files.partyKey, files.env];
  if (replaced === undefined) return { created };
  const { crl } = revokeEntries(opts.certsDir, relayCa, [{ serial: replaced, identity }]);
  return { created, revoked: { serial: replaced, crl } };
}

export interface PartyResult {
  created: string[];
  /** The relay certificate `--force` replaced, now on the CRL. */
  revoked?: { serial: string; crl: string };
}

function replacedSerial(certFile: string, identity: string): string | undefined {
  try {
    const pem = readText(certFile, `relay certificate of ${identity}`);
    return commonNameOf(pem) === identity ? normalizeSerial(serialOf(pem)) : undefined;
  } catch {
    return undefined; // unreadable or not a certificate: nothing a CRL could name
  }
}

/**
 * RELAY in party.env: host:port with a DNS name or an IP address, nothing else. The value ends
 * up in a file that parties source with a shell, so it is checked, not just quoted.
 */
export function checkRelayAddress(text: string): string {
  const a = parseHostPort(text);
  const hostOk = typeof a !== "string" && a.kind === "tcp" && (net.isIP(a.host) !== 0 || (a.host.length <= 253 && a.host.split(".").every(isLabel)));
  if (!hostOk || typeof a === "string") {
    throw new UsageError(`--relay ${JSON.stringify(text)} is not host:port (write e.g. relay.example.com:6000 or [2001:db8::1]:6000)`);
  }
  return a.text;
}

/** A value for a POSIX shell, in single quotes: a quote inside becomes '\'' and nothing else is special. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** A shell file: `set -a; . ./party.env` exports every value, PEM text with its newlines. */
export function partyEnv(values: Record<string, string>): string {
  const lines = ["# frelay party settings: (set -a; . ./party.env; DEST=<peer> frelay connect)"];
  for (const [name, value] of Object.entries(values)) {
    // The names are fixed in code: a bad one is a bug here, not something a user can fix.
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`not a shell variable name: ${name}`);
    lines.push(`${name}=${shellQuote(value.trimEnd())}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Serials revoked so far, with their identities: what the CRL is rebuilt from. */
function revokedListFile(certsDir: string): string {
  return path.join(certsDir, "revoked.json");
}

/** Every relay certificate issued here, per identity: what `cert revoke <identity>` revokes. */
export function issuedListFile(certsDir: string): string {
  return path.join(certsDir, "issued.json");
}

interface IssuedEntry {
  identity: string;
  serial: string;
  issued: string;
  not_after: string;
}

type RevokedRecord = RevokedEntry & { identity?: string };

function readJsonList<T>(file: string, what: string): T[] {
  if (!exists(file)) return [];
  try {
    const v = JSON.parse(readText(file, what)) as unknown;
    if (Array.isArray(v)) return v as T[];
  } catch (err) {
    if (err instanceof FrelayError) throw err;
  }
  throw new PkiError(`${what}: ${file} is not a JSON list (restore it from a backup)`);
}

function recordIssued(certsDir: string, identity: string, certPem: string): void {
  const file = issuedListFile(certsDir);
  const list = readJsonList<IssuedEntry>(file, "list of issued certificates");
  fs.mkdirSync(certsDir, { recursive: true, mode: 0o755 }); // a first party made with CAs kept elsewhere
  const notAfter = new Date(new crypto.X509Certificate(certPem).validTo).toISOString();
  list.push({ identity, serial: normalizeSerial(serialOf(certPem)), issued: new Date().toISOString(), not_after: notAfter });
  writeAtomic(file, `${JSON.stringify(list, null, 2)}\n`, CERT_MODE);
}

/** Adds entries to the revocation list and re-signs the CRL with all of them. */
function revokeEntries(certsDir: string, ca: KeyAndCert, add: readonly { serial: string; identity?: string }[]): { crl: string; added: string[] } {
  const listFile = revokedListFile(certsDir);
  const list = mergedRevocations(certsDir, ca);
  const added: string[] = [];
  for (const e of add) {
    if (list.some((r) => normalizeSerial(r.serial) === e.serial)) continue;
    list.push({ serial: e.serial, ...(e.identity ? { identity: e.identity } : {}), date: new Date().toISOString() });
    added.push(e.serial);
  }
  const crl = crlFile(certsDir);
  writeAtomic(listFile, `${JSON.stringify(list, null, 2)}\n`, CERT_MODE);
  writeAtomic(crl, buildCrl(ca, list), CERT_MODE);
  return { crl, added };
}

/**
 * revoked.json plus anything the current CRL lists that it lacks (a CRL made elsewhere, or a
 * lost list): re-signing must never drop a revocation.
 */
function mergedRevocations(certsDir: string, ca: KeyAndCert): RevokedRecord[] {
  const list = readJsonList<RevokedRecord>(revokedListFile(certsDir), "revocation list");
  const crl = crlFile(certsDir);
  if (!exists(crl)) return list;
  let parsed: ParsedCrl;
  try {
    parsed = parseCrl(readText(crl, "CRL"));
  } catch {
    throw new PkiError(`${crl} is not a CRL (move it aside; "frelay cert crl renew" writes a new one from revoked.json)`);
  }
  if (!crlSignedBy(parsed, ca.certPem)) {
    throw new PkiError(`${crl} is not signed by the relay CA (move it aside, or pass the CA that signed it with --relay-ca-dir)`);
  }
  for (const e of parsed.entries) {
    if (!list.some((r) => normalizeSerial(r.serial) === e.serial)) list.push(e);
  }
  return list;
}

/**
 * The relay CA that signs the CRL: frelay's files, or in a certs folder of Flock's fr-adm
 * (`frelay init --from-flock`) its `flockrelay-ca.pem` and `flockrelay-key.pem`, so a site that
 * kept fr-adm's certificates can still revoke one.
 */
function loadRelayCa(certsDir: string, relayCaDir?: string): KeyAndCert {
  const dir = relayCaDir ?? certsDir;
  const own = relayCaFiles(dir);
  const flock = { cert: path.join(dir, "flockrelay-ca.pem"), key: path.join(dir, "flockrelay-key.pem") };
  const files = !exists(own.cert) && exists(flock.cert) ? flock : own;
  return loadPair(files, "relay CA", "run frelay init, or pass --relay-ca-dir");
}

export interface RevokeResult {
  crl: string;
  /** Serials this call added to the CRL. */
  added: string[];
  /** Serials that were already on it. */
  already: string[];
}

/** Revokes every relay certificate ever issued to `identity` (the ledger, plus its current relay.pem). */
export function revokeParty(certsDir: string, identity: string, relayCaDir?: string): RevokeResult {
  if (!isIdentity(identity)) {
    throw new UsageError(`"${identity}" is not an identity (use <party>.<user>, e.g. 0.user1)`);
  }
  const serials = new Set(readJsonList<IssuedEntry>(issuedListFile(certsDir), "list of issued certificates").filter((e) => e.identity === identity).map((e) => normalizeSerial(e.serial)));
  const files = partyFiles(certsDir, identity);
  // Certificates issued before the ledger existed are known only by their file.
  if (exists(files.relayCert) || serials.size === 0) {
    const certPem = readText(files.relayCert, `relay certificate of ${identity}`);
    if (commonNameOf(certPem) !== identity) {
      throw new PkiError(`${files.relayCert} is not the relay certificate of ${identity}`);
    }
    serials.add(normalizeSerial(serialOf(certPem)));
  }
  const { crl, added } = revokeEntries(certsDir, loadRelayCa(certsDir, relayCaDir), [...serials].map((serial) => ({ serial, identity })));
  return { crl, added, already: [...serials].filter((s) => !added.includes(s)) };
}

/** Revokes one relay certificate by its serial number (hex, as `openssl x509 -serial` prints it). */
export function revokeSerial(certsDir: string, serialHex: string, relayCaDir?: string): RevokeResult & { identity?: string } {
  const hex = serialHex.replace(/^(serial=|0x)/i, "").replace(/:/g, "");
  if (!/^[0-9A-Fa-f]{1,40}$/.test(hex)) {
    throw new UsageError(`--serial ${serialHex} is not a hex serial number (copy it from "openssl x509 -noout -serial -in relay.pem")`);
  }
  const serial = normalizeSerial(hex);
  const identity = readJsonList<IssuedEntry>(issuedListFile(certsDir), "list of issued certificates").find((e) => normalizeSerial(e.serial) === serial)?.identity;
  const { crl, added } = revokeEntries(certsDir, loadRelayCa(certsDir, relayCaDir), [{ serial, ...(identity ? { identity } : {}) }]);
  return { crl, added, already: added.length ? [] : [serial], ...(identity ? { identity } : {}) };
}

/** Re-signs the CRL with the same entries and a new nextUpdate. */
export function renewCrl(certsDir: string, relayCaDir?: string, days?: number): { crl: string; entries: number; nextUpdate: Date } {
  const ca = loadRelayCa(certsDir, relayCaDir);
  const list = mergedRevocations(certsDir, ca);
  const crl = crlFile(certsDir);
  const pem = buildCrl(ca, list, days ? { days } : {});
  writeAtomic(revokedListFile(certsDir), `${JSON.stringify(list, null, 2)}\n`, CERT_MODE);
  writeAtomic(crl, pem, CERT_MODE);
  return { crl, entries: list.length, nextUpdate: parseCrl(pem).nextUpdate as Date };
}

/**
 * A node certificate for the scale-out link, signed by the relay CA: both server and client
 * (each node dials and accepts), and marked so that it can never pass as a party.
 */
export function createNodeCert(certsDir: string, node: string, bits: KeyBits, force: boolean, relayCaDir?: string): string[] {
  if (!isLabel(node)) {
    throw new UsageError(`node name "${node}" is not valid (use one DNS label: letters, digits and '-', 1-63 characters)`);
  }
  const relayCa = loadPair(relayCaFiles(relayCaDir ?? certsDir), "relay CA", "run frelay init, or pass --relay-ca-dir");
  const files = nodeCertFiles(certsDir, node);
  if (!force) {
    for (const f of [files.cert, files.key]) {
      if (exists(f)) throw new FileError("FRELAY_ERR_EXISTS", `${f} already exists (use --force to replace it)`);
    }
  }
  const pair = issueCertificate({ commonName: nodeCommonName(node), organizationalUnit: NODE_OU, usage: "peer", days: LEAF_DAYS, bits, issuer: relayCa });
  writePair(files, pair, force);
  return [files.cert, files.key];
}

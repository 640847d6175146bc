import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { FileError } from "../errors";
import { isIdentity } from "./identity";

/**
 * An existing Flock PKI, as Flock's `fr-adm` lays it out, adopted as it lies (nothing re-issued):
 *
 *   flockrelay-ca.pem  flockrelay-key.pem   relay CA (older fr-adm: frelay-ca.pem)
 *   flockrelay/{cert,key}.pem              the relay's server certificate (name `flockrelay`)
 *   <party>/{cert,key}.pem                 a party's relay certificate (CN = party name)
 *   <user>/user-ca.pem  user-key.pem       a user's CA
 *   <user>/<party>/{cert,key}.pem          that party's end-to-end certificate
 *
 * The relay needs only the CA certificate and its own certificate and key; the parties' folders
 * tell which parties belong together, and so which routes to write.
 */
export interface FlockTree {
  readonly relayCa: string;
  readonly relayCert: string;
  readonly relayKey: string;
  /** Relay identities found: each `<party>/cert.pem` signed by the relay CA. */
  readonly parties: readonly string[];
  /** Per user, the parties with an end-to-end certificate there and a relay certificate. */
  readonly users: readonly { readonly user: string; readonly parties: readonly string[] }[];
  /** Every two parties of each user, once. */
  readonly routes: readonly (readonly [string, string])[];
  /** Things an operator should know (skipped folders, keys readable by others). */
  readonly warnings: readonly string[];
}

const CA_NAMES = ["flockrelay-ca.pem", "frelay-ca.pem"];
const SERVER_DIR = "flockrelay";

function readCert(file: string): crypto.X509Certificate | undefined {
  try {
    return new crypto.X509Certificate(fs.readFileSync(file));
  } catch {
    return undefined;
  }
}

function commonName(cert: crypto.X509Certificate): string | undefined {
  const cns = cert.subject.split("\n").filter((l) => l.startsWith("CN="));
  return cns.length === 1 ? (cns[0] as string).slice(3) : undefined;
}

function signedBy(cert: crypto.X509Certificate, ca: crypto.X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

const isFile = (f: string) => fs.statSync(f, { throwIfNoEntry: false })?.isFile() === true;

export function readFlockTree(dir: string): FlockTree {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new FileError("FRELAY_ERR_FILE", `--from-flock: ${dir} is not a folder (give the certs folder fr-adm wrote)`);
  }
  const caFile = CA_NAMES.map((n) => path.join(dir, n)).find(isFile);
  if (!caFile) throw new FileError("FRELAY_ERR_FILE", `--from-flock: ${dir} holds neither ${CA_NAMES.join(" nor ")} (the relay CA fr-adm writes)`);
  const ca = readCert(caFile);
  if (!ca) throw new FileError("FRELAY_ERR_FILE", `--from-flock: ${caFile} is not a PEM certificate`);
  const relayCert = path.join(dir, SERVER_DIR, "cert.pem");
  const relayKey = path.join(dir, SERVER_DIR, "key.pem");
  const server = readCert(relayCert);
  if (!server || !isFile(relayKey)) throw new FileError("FRELAY_ERR_FILE", `--from-flock: ${path.join(dir, SERVER_DIR)} must hold cert.pem and key.pem (the relay certificate fr-adm writes)`);
  if (!signedBy(server, ca)) throw new FileError("FRELAY_ERR_FILE", `--from-flock: ${relayCert} is not signed by ${caFile}`);

  const warnings: string[] = [];
  const mode = fs.statSync(relayKey).mode & 0o077;
  if (mode !== 0) warnings.push(`${relayKey} is readable by others: chmod 600 it`);

  const parties: string[] = [];
  const users: { user: string; parties: string[] }[] = [];
  for (const name of subdirs(dir)) {
    if (name === SERVER_DIR) continue;
    const sub = path.join(dir, name);
    if (isFile(path.join(sub, "user-ca.pem"))) {
      users.push({ user: name, parties: subdirs(sub).filter((p) => isFile(path.join(sub, p, "cert.pem"))) });
      continue;
    }
    const cert = readCert(path.join(sub, "cert.pem"));
    if (!cert) continue; // not a party folder
    const cn = commonName(cert);
    if (!signedBy(cert, ca)) warnings.push(`skipped ${sub}: its cert.pem is not signed by the relay CA`);
    else if (cn !== name || !isIdentity(cn)) warnings.push(`skipped ${sub}: its certificate's CN ${JSON.stringify(cn)} is not the folder's name`);
    else parties.push(name);
  }

  const known = new Set(parties);
  const routes: (readonly [string, string])[] = [];
  const seen = new Set<string>();
  for (const u of users) {
    for (const p of u.parties.filter((x) => !known.has(x))) warnings.push(`${u.user}/${p} has no relay certificate (${path.join(dir, p, "cert.pem")}): no route for it`);
    u.parties = u.parties.filter((x) => known.has(x));
    for (let i = 0; i < u.parties.length; i++) {
      for (let j = i + 1; j < u.parties.length; j++) {
        const pair = [u.parties[i] as string, u.parties[j] as string] as const;
        const k = pair.join("\n");
        if (!seen.has(k)) routes.push(pair);
        seen.add(k);
      }
    }
  }
  if (routes.length === 0) warnings.push(`no user folder with two parties: no routes written (add them with "frelay route add <a> <b>")`);
  return { relayCa: caFile, relayCert, relayKey, parties, users, routes, warnings };
}

/** The certificate and config commands: `frelay init` (and `--from-flock`), `cert user|party|revoke|crl renew`, and `check`. */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatHostPort, parseHostPort } from "../config/address";
import { loadConfig } from "../config/load";
import { assertBits, assertKeyType } from "../pki/certs";
import { crlFreshness } from "../pki/crl-freshness";
import { CERT_MODE, writeNewFile } from "../pki/files";
import { createParty, createUserCa, initRelayPki, renewCrl, revokeParty, revokeSerial } from "../pki/operations";
import { readFlockTree } from "../pki/flock-import";
import { FileError, UsageError } from "../errors";
import type { Output } from "./output";
import { checkClusterRedis } from "./cluster-commands";

export const EXAMPLE_CONFIG = path.join(__dirname, "..", "..", "..", "config.example.json");

function certsDirOf(configFile: string): string {
  return path.join(path.dirname(configFile), "certs");
}

function rel(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

export function cmdInit(configFile: string, opts: { hostname: string[]; bits: string; keyType?: string; force?: boolean }, io: Output): number {
  const bits = assertBits(Number(opts.bits));
  const keyType = assertKeyType(opts.keyType ?? "rsa");
  const created = initRelayPki({ certsDir: certsDirOf(configFile), hostnames: opts.hostname, bits, keyType, force: !!opts.force });
  if (opts.force || !fs.existsSync(configFile)) {
    writeNewFile(configFile, fs.readFileSync(EXAMPLE_CONFIG, "utf8"), CERT_MODE, !!opts.force);
    created.push(configFile);
  }
  if (created.length === 0) io.out("nothing to do: the relay CA, its certificate and config.json already exist (use --force to replace them)");
  for (const f of created) io.out(`created ${rel(f)}`);
  io.out("next steps:");
  io.out("  frelay cert user user1");
  io.out("  frelay cert party 0 --user user1 && frelay cert party 1 --user user1");
  io.out("  frelay check && frelay start");
  return 0;
}

/**
 * `init --from-flock <certs>`: a config.json for an existing fr-adm tree, left where it is. The
 * config is checked (files readable, key matches certificate) before it is written.
 */
export function cmdInitFromFlock(configFile: string, certs: string, opts: { force?: boolean }, io: Output): number {
  const tree = readFlockTree(path.resolve(certs));
  const dir = path.dirname(configFile);
  const relTo = (f: string) => path.relative(dir, f) || f;
  const config = JSON.parse(fs.readFileSync(EXAMPLE_CONFIG, "utf8")) as Record<string, unknown>;
  config["tls"] = { ca: relTo(tree.relayCa), cert: relTo(tree.relayCert), key: relTo(tree.relayKey) };
  config["routes"] = tree.routes.map((r) => ({ between: [...r] }));
  delete config["fronting"];
  const text = `${JSON.stringify(config, null, 2)}\n`;
  if (!opts.force && fs.existsSync(configFile)) throw new FileError("FRELAY_ERR_EXISTS", `${configFile} already exists (use --force to replace it)`);
  const probe = path.join(dir, `.${path.basename(configFile)}.${process.pid}.check`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(probe, text, { mode: CERT_MODE });
  try {
    loadConfig(probe);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  writeNewFile(configFile, text, CERT_MODE, !!opts.force);
  io.out(`adopted the Flock certificates in ${rel(path.resolve(certs))} as they are (nothing re-issued):`);
  io.out(`  relay CA ${rel(tree.relayCa)}, relay certificate ${rel(tree.relayCert)}`);
  io.out(`  parties: ${tree.parties.join(", ") || "none"}`);
  for (const u of tree.users) io.out(`  user ${u.user}: ${u.parties.join(", ") || "no parties"}`);
  for (const r of tree.routes) io.out(`  route ${r[0]} <-> ${r[1]}`);
  for (const w of tree.warnings) io.out(`warning: ${w}`);
  io.out(`created ${rel(configFile)}`);
  io.out("next steps:");
  io.out(`  set "address" in ${rel(configFile)} to the Flock relay's port, then: frelay check && frelay start`);
  return 0;
}

export function cmdCertUser(configFile: string, user: string, opts: { bits: string; keyType: string; force?: boolean }, io: Output): number {
  for (const f of createUserCa(certsDirOf(configFile), user, assertBits(Number(opts.bits)), !!opts.force, assertKeyType(opts.keyType))) io.out(`created ${rel(f)}`);
  return 0;
}

/** RELAY for party.env: the config's address, with a wildcard host replaced by loopback. */
function relayAddressFor(configFile: string, flag: string | undefined): string {
  if (flag) return flag;
  try {
    const raw = JSON.parse(fs.readFileSync(configFile, "utf8")) as { address?: string };
    const a = parseHostPort(raw.address ?? "");
    if (typeof a !== "string" && a.kind === "tcp") {
      const host = a.host === "0.0.0.0" || a.host === "::" ? "127.0.0.1" : a.host;
      return formatHostPort(host, a.port);
    }
  } catch {
    // no config yet: fall through to the default
  }
  return "127.0.0.1:6000";
}

export function cmdCertParty(
  configFile: string,
  party: string,
  opts: { user: string; bits: string; keyType: string; force?: boolean; relayCaDir?: string; userCaDir?: string; relay?: string },
  io: Output,
): number {
  const result = createParty({
    certsDir: certsDirOf(configFile),
    party,
    user: opts.user,
    bits: assertBits(Number(opts.bits)),
    keyType: assertKeyType(opts.keyType),
    force: !!opts.force,
    relayAddress: relayAddressFor(configFile, opts.relay),
    ...(opts.relayCaDir ? { relayCaDir: path.resolve(opts.relayCaDir) } : {}),
    ...(opts.userCaDir ? { userCaDir: path.resolve(opts.userCaDir) } : {}),
  });
  for (const f of result.created) io.out(`created ${rel(f)}`);
  if (result.revoked) {
    io.out(`revoked the replaced relay certificate (serial ${result.revoked.serial}) in ${rel(result.revoked.crl)}; a running relay applies it on reload`);
  }
  const env = result.created[result.created.length - 1] as string;
  io.out(`connect as ${party}.${opts.user}: (set -a; . ${rel(env)}; DEST=<peer> frelay connect)`);
  return 0;
}

export function cmdRevoke(configFile: string, identity: string | undefined, opts: { relayCaDir?: string; serial?: string }, io: Output): number {
  if ((identity === undefined) === (opts.serial === undefined)) {
    throw new UsageError("name what to revoke: frelay cert revoke <identity>, or frelay cert revoke --serial <hex>");
  }
  const caDir = opts.relayCaDir ? path.resolve(opts.relayCaDir) : undefined;
  const r = opts.serial !== undefined ? revokeSerial(certsDirOf(configFile), opts.serial, caDir) : revokeParty(certsDirOf(configFile), identity as string, caDir);
  const who: string = identity ?? ("identity" in r && typeof r.identity === "string" && r.identity ? r.identity : "unknown identity");
  for (const s of r.added) io.out(`revoked ${who} serial ${s} in ${rel(r.crl)}`);
  for (const s of r.already) io.out(`already revoked: ${who} serial ${s}`);
  io.out("a running relay applies it when it sees the file change, or on frelay reload");
  return 0;
}

export function cmdCrlRenew(configFile: string, opts: { relayCaDir?: string; days?: string }, io: Output): number {
  const days = opts.days === undefined ? undefined : Number(opts.days);
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
    throw new UsageError(`--days ${opts.days} is not a whole number of days from 1 to 3650`);
  }
  const r = renewCrl(certsDirOf(configFile), opts.relayCaDir ? path.resolve(opts.relayCaDir) : undefined, days);
  io.out(`renewed ${rel(r.crl)}: ${r.entries} revoked, next update ${r.nextUpdate.toISOString()}`);
  io.out("a running relay applies it when it sees the file change, or on frelay reload");
  return 0;
}

export async function cmdCheck(configFile: string, io: Output): Promise<number> {
  const config = loadConfig(configFile);
  await checkClusterRedis(config, io);
  io.out("config OK");
  // The CRL's dates do not make the config wrong (the relay enforces it regardless), but the
  // operator should see when it needs renewing.
  if (config.tls.crl) io.out(`tls.crl ${rel(config.tls.paths.crl as string)}: ${crlFreshness(config.tls.crl).text}`);
  return 0;
}

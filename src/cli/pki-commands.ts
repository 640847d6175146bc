import * as fs from "node:fs";
import * as path from "node:path";
import { formatHostPort, parseHostPort } from "../config/address";
import { loadConfig } from "../config/load";
import { assertBits } from "../pki/certs";
import { CERT_MODE, writeNewFile } from "../pki/files";
import { createParty, createUserCa, initRelayPki, revokeParty } from "../pki/operations";
import type { Output } from "./output";

export const EXAMPLE_CONFIG = path.join(__dirname, "..", "..", "..", "config.example.json");

function certsDirOf(configFile: string): string {
  return path.join(path.dirname(configFile), "certs");
}

function rel(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

export function cmdInit(configFile: string, opts: { hostname: string[]; bits: string; force?: boolean }, io: Output): number {
  const bits = assertBits(Number(opts.bits));
  const created = initRelayPki({ certsDir: certsDirOf(configFile), hostnames: opts.hostname, bits, force: !!opts.force });
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

export function cmdCertUser(configFile: string, user: string, opts: { bits: string; force?: boolean }, io: Output): number {
  for (const f of createUserCa(certsDirOf(configFile), user, assertBits(Number(opts.bits)), !!opts.force)) io.out(`created ${rel(f)}`);
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
  opts: { user: string; bits: string; force?: boolean; relayCaDir?: string; userCaDir?: string; relay?: string },
  io: Output,
): number {
  const files = createParty({
    certsDir: certsDirOf(configFile),
    party,
    user: opts.user,
    bits: assertBits(Number(opts.bits)),
    force: !!opts.force,
    relayAddress: relayAddressFor(configFile, opts.relay),
    ...(opts.relayCaDir ? { relayCaDir: path.resolve(opts.relayCaDir) } : {}),
    ...(opts.userCaDir ? { userCaDir: path.resolve(opts.userCaDir) } : {}),
  });
  for (const f of files) io.out(`created ${rel(f)}`);
  const env = files[files.length - 1] as string;
  io.out(`connect as ${party}.${opts.user}: (set -a; . ${rel(env)}; DEST=<peer> frelay connect)`);
  return 0;
}

export function cmdRevoke(configFile: string, identity: string, opts: { relayCaDir?: string }, io: Output): number {
  const { crl, serial } = revokeParty(certsDirOf(configFile), identity, opts.relayCaDir ? path.resolve(opts.relayCaDir) : undefined);
  io.out(`revoked ${identity} (serial ${serial}) in ${rel(crl)}`);
  io.out("a running relay applies it when it sees the file change, or on frelay reload");
  return 0;
}

export function cmdCheck(configFile: string, io: Output): number {
  loadConfig(configFile);
  io.out("config OK");
  return 0;
}

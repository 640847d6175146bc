import * as fs from "node:fs";
import { FileError, UsageError } from "../errors";

/** Everything a party needs; PEM values are the text itself. */
export interface PartySettings {
  relay: string;
  relayCa: string;
  relayCert: string;
  relayKey: string;
  userCa: string;
  partyCert: string;
  partyKey: string;
  dest: string;
  tag: string;
}

/** The Flock clients' environment variables, and the flag that overrides each. */
export const SETTING_NAMES = {
  relay: "RELAY",
  relayCa: "RELAY_CA",
  relayCert: "RELAY_CERT",
  relayKey: "RELAY_KEY",
  userCa: "USER_CA",
  partyCert: "PARTY_CERT",
  partyKey: "PARTY_KEY",
  dest: "DEST",
  tag: "TAG",
} as const satisfies Record<keyof PartySettings, string>;

const PEM_SETTINGS = ["relayCa", "relayCert", "relayKey", "userCa", "partyCert", "partyKey"] as const;

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A PEM setting is either the PEM text or the path of a file holding it. */
export function pemValue(value: string, name: string): string {
  if (value.includes("-----BEGIN")) return value;
  try {
    const text = fs.readFileSync(value, "utf8");
    if (!text.includes("-----BEGIN")) throw new FileError("FRELAY_ERR_FILE", `${name}: ${value} holds no PEM data (point it at a .pem or .key file)`);
    return text;
  } catch (err) {
    if (err instanceof FileError) throw err;
    throw new FileError("FRELAY_ERR_FILE", `${name}: ${value} is neither PEM text nor a readable file (set it to the PEM or its path)`);
  }
}

/** Flags win over the environment; every missing setting is named in one error. */
export function resolveSettings(flags: Partial<Record<keyof PartySettings, string>>, env: NodeJS.ProcessEnv): PartySettings {
  const out: Partial<PartySettings> = {};
  const missing: string[] = [];
  for (const [key, envName] of Object.entries(SETTING_NAMES) as [keyof PartySettings, string][]) {
    const value = flags[key] ?? env[envName];
    if (value === undefined || value === "") {
      if (key === "tag") out.tag = "";
      else missing.push(`${envName} (or ${flagName(key)})`);
      continue;
    }
    out[key] = (PEM_SETTINGS as readonly string[]).includes(key) ? pemValue(value, envName) : value;
  }
  if (missing.length > 0) {
    throw new UsageError(`missing settings: ${missing.join(", ")} (source a party.env: set -a; . certs/parties/<id>/party.env)`);
  }
  return out as PartySettings;
}

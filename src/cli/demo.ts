import * as fs from "node:fs";
import type { Output } from "./output";
import { cmdInit } from "./pki-commands";

/**
 * `npm start` on a fresh clone: make the development PKI and config in the working folder,
 * exactly as `frelay init` would, then start. Does nothing once a config exists.
 */
export function maybeInitForDemo(configFile: string, io: Output): void {
  if (fs.existsSync(configFile)) return;
  io.err(`frelay: no ${configFile} yet; creating a development PKI and config (frelay init)`);
  cmdInit(configFile, { hostname: [], bits: "2048" }, { out: io.err, err: io.err });
}

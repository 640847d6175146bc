/** Loading config.json: read, parse, validate against the schema, apply defaults, resolve paths, load the files it names, freeze. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import Ajv, { type ErrorObject } from "ajv";
import { ConfigError, FileError } from "../errors";
import { crlSignedBy, parseCrl, type ParsedCrl } from "../pki/certs";
import { parseHostPort, type ListenAddress } from "./address";
import { parseDuration } from "./duration";
import { lineOfPath } from "./json-lines";
import { DERIVED_DEFAULT_KEYWORD, RELOAD_KEYWORD, configSchema, type RawConfig } from "./schema";
import { isNodeCertificate } from "../pki/node-identity";
import { nodeCertFiles } from "../pki/layout";

export type LogLevel = "error" | "warn" | "info" | "debug";

/** One validated, defaulted, path-resolved and frozen config, with the files it names loaded. */
export interface RelayConfig {
  readonly file: string;
  readonly dir: string;
  readonly address: ListenAddress & { kind: "tcp" };
  readonly tls: {
    readonly paths: { readonly ca: string; readonly cert: string; readonly key: string; readonly crl?: string };
    readonly caPem: string;
    readonly certPem: string;
    readonly keyPem: string;
    readonly crlPem?: string;
    /** The CRL's entries (normalized serials) and dates, read and signature-checked at load. */
    readonly crl?: { readonly revoked: readonly string[]; readonly thisUpdate: string; readonly nextUpdate?: string };
  };
  readonly routes: readonly (readonly [string, string])[];
  readonly proxyProtocol: boolean;
  /** Peers whose PROXY header is believed (addresses or CIDR blocks). */
  readonly proxyProtocolFrom: readonly string[];
  /** "auto": paired TCP sessions move by splice(2) where the native addon is built; "off": in JavaScript. */
  readonly nativeSplice: "auto" | "off";
  readonly fronting?: {
    readonly address: ListenAddress;
    readonly path: string;
    readonly clientCertHeader: string;
    /** Where a front puts the client's address (each proxy appends to it, x-forwarded-for style). */
    readonly clientAddressHeader: string;
    readonly trustedProxies: readonly string[];
    /** A unix socket's mode and group, set at bind (never the umask's). */
    readonly socketMode: number;
    readonly socketGroup?: string;
  };
  readonly timeouts: {
    readonly handshakeMs: number;
    readonly pairMs: number;
    readonly idleMs: number;
    readonly drainMs: number;
    /** After both parties' FINs: how long the relay's last held bytes may take to be read. */
    readonly flushGraceMs: number;
    /** An HTTP/2 connection with no open stream is closed after this (0: never). */
    readonly h2IdleMs: number;
    /** An HTTP/2 connection is sent GOAWAY this long after accept (0: never). */
    readonly h2LifetimeMs: number;
  };
  readonly limits: {
    readonly maxConnections: number;
    readonly maxWaitingPerIdentity: number;
    /** Connections from one client address not yet past their request (TLS, then the request). */
    readonly maxHandshakesPerAddress: number;
    /** What one HTTP/2 connection's streams may make the relay hold, in bytes, and how many may be open. */
    readonly h2BufferBytes: number;
    readonly h2MaxStreams: number;
  };
  readonly pidfile: string;
  readonly controlSocket: string;
  readonly log: { readonly file: string; readonly level: LogLevel };
  readonly metrics?: { readonly address: ListenAddress & { kind: "tcp" } };
  /** Scale-out (src/cluster): absent, this process pairs only its own parties, as it always has. */
  readonly cluster?: ClusterConfig;
  /** Digest of config.json and every file it names: equal digests mean nothing changed. */
  readonly fingerprint: string;
  /** Every file the config depends on, for the watcher. */
  readonly watchedFiles: readonly string[];
}

export interface ClusterConfig {
  readonly redis: string;
  readonly node: string;
  readonly peerAddress: ListenAddress & { kind: "tcp" };
  /** This node's certificate for the node-to-node link (`frelay cert node <name>`). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly paths: { readonly cert: string; readonly key: string };
  readonly workers: number;
}

export const DEFAULTS = {
  timeouts: { handshake: "10s", pair: "30s", idle: "0s", drain: "30s", flush_grace: "30s", h2_idle: "30s", h2_lifetime: "4h" },
  limits: { max_connections: 20000, max_waiting_per_identity: 64, max_handshakes_per_address: 256, h2_connection_buffer_mib: 16, h2_max_streams: 16 },
  pidfile: "frelay.pid",
  control_socket: "frelay.sock",
  log: { file: "frelay.log", level: "info" as LogLevel },
  fronting: { path: "/frelay", client_cert_header: "x-ssl-client-cert", client_address_header: "x-forwarded-for", trusted_proxies: ["127.0.0.1", "::1"], socket_mode: "0660" },
  proxy_protocol_from: ["127.0.0.1"],
} as const;

// x-reload and x-default are documentation only (docs/configuration.md); strict mode needs to be told they are known.
const ajv = new Ajv({ allErrors: true, strict: true, keywords: [RELOAD_KEYWORD, DERIVED_DEFAULT_KEYWORD] });
const validate = ajv.compile<RawConfig>(configSchema);

type PathPart = string | number;

function dotted(parts: readonly PathPart[]): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out || "(top level)";
}

function pointerParts(pointer: string): PathPart[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

/** Turns one ajv error into a sentence that names the setting and the fix. */
function schemaMessage(e: ErrorObject): { parts: PathPart[]; text: string } {
  const parts = pointerParts(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(params["additionalProperty"]);
      return { parts: [...parts, key], text: `unknown key "${key}" (remove it, or check its spelling against config.example.json)` };
    }
    case "required":
      return { parts, text: `missing required key "${String(params["missingProperty"])}" (add it; see config.example.json)` };
    case "pattern": {
      const last = parts[parts.length - 2];
      if (e.schemaPath.includes("timeouts")) return { parts, text: `is not a duration (write a string like "500ms", "30s", "5m" or "1h")` };
      if (last === "between") return { parts, text: `is not a route end (write an identity like "0.user1" or "0", or a wildcard like "*.user1" or "*")` };
      if (parts[1] === "redis") return { parts, text: `is not a Redis URL (write e.g. "redis://127.0.0.1:6379/0")` };
      if (parts[1] === "node") return { parts, text: `is not a node name (one DNS label: letters, digits and '-', e.g. "a")` };
      return { parts, text: `does not have the expected form (${e.message ?? "pattern"})` };
    }
    case "type":
      if (e.schemaPath.includes("timeouts")) return { parts, text: `must be a duration string like "30s", not a bare number` };
      return { parts, text: `must be ${params["type"] === "integer" ? "a whole number" : `a ${String(params["type"])}`}` };
    case "enum":
      return { parts, text: `must be one of ${(params["allowedValues"] as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` };
    case "minItems":
    case "maxItems":
      return { parts, text: `must list exactly two route ends, e.g. ["0.user1", "1.user1"]` };
    default:
      return { parts, text: e.message ?? e.keyword };
  }
}

class ErrorList {
  readonly items: string[] = [];
  constructor(private readonly text: string, private readonly file: string) {}
  add(parts: readonly PathPart[], message: string): void {
    const line = lineOfPath(this.text, parts);
    this.items.push(`${path.basename(this.file)}${line ? `:${line}` : ""}: ${dotted(parts)}: ${message}`);
  }
}

/** config.json's text; a missing file is FRELAY_ERR_CONFIG_MISSING for every command that reads it. */
export function readConfigText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigError("FRELAY_ERR_CONFIG_MISSING", `config file ${file} does not exist (run "frelay init" to create one, or pass -c <path>)`);
    }
    throw new FileError("FRELAY_ERR_FILE", `config file ${file} cannot be read (${code}; check its permissions)`);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? text.slice(0, Number(pos[1])).split("\n").length : undefined;
    throw new ConfigError("FRELAY_ERR_CONFIG_INVALID", `${path.basename(file)}${line ? `:${line}` : ""}: not valid JSON (${msg}); fix the syntax`);
  }
}

interface LoadedFile { pem: string; path: string }

function loadPem(errors: ErrorList, parts: PathPart[], dir: string, rel: string): LoadedFile | undefined {
  const abs = path.resolve(dir, rel);
  try {
    return { pem: fs.readFileSync(abs, "utf8"), path: abs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? `does not exist (run "frelay init", or fix the path)` : `cannot be read (${code}; check its permissions)`;
    errors.add(parts, `${rel} ${why}`);
    return undefined;
  }
}

function checkTlsFiles(errors: ErrorList, raw: RawConfig, files: { ca?: LoadedFile; cert?: LoadedFile; key?: LoadedFile; crl?: LoadedFile }): ParsedCrl | undefined {
  let cert: crypto.X509Certificate | undefined;
  let key: crypto.KeyObject | undefined;
  if (files.ca) {
    try {
      new crypto.X509Certificate(files.ca.pem);
    } catch {
      errors.add(["tls", "ca"], `${raw.tls.ca} is not a PEM certificate (point it at the relay CA, certs/relay-ca.pem)`);
    }
  }
  if (files.cert) {
    try {
      cert = new crypto.X509Certificate(files.cert.pem);
      if (Date.parse(cert.validTo) < Date.now()) errors.add(["tls", "cert"], `${raw.tls.cert} expired on ${cert.validTo} (issue a new one with "frelay init --force")`);
    } catch {
      errors.add(["tls", "cert"], `${raw.tls.cert} is not a PEM certificate (point it at the relay certificate, certs/relay.pem)`);
    }
  }
  if (files.key) {
    try {
      key = crypto.createPrivateKey(files.key.pem);
    } catch {
      errors.add(["tls", "key"], `${raw.tls.key} is not a PEM private key (point it at certs/relay.key)`);
    }
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    errors.add(["tls", "key"], `${raw.tls.key} does not match ${raw.tls.cert} (run "frelay init --force", or fix the paths)`);
  }
  if (files.crl) return checkCrl(errors, raw, files.crl, files.ca);
  return undefined;
}

/**
 * The CRL is read and its signature checked here, once: the relay enforces its entries itself
 * (see daemon/state.ts), whatever its dates say, so it must be the relay CA's own.
 */
function checkCrl(errors: ErrorList, raw: RawConfig, crlFile: LoadedFile, ca: LoadedFile | undefined): ParsedCrl | undefined {
  let crl: ParsedCrl;
  try {
    crl = parseCrl(crlFile.pem);
  } catch {
    errors.add(["tls", "crl"], `${raw.tls.crl} is not a PEM CRL (make it with "frelay cert crl renew", or remove tls.crl)`);
    return undefined;
  }
  if (ca && !crlSignedBy(crl, ca.pem)) {
    errors.add(["tls", "crl"], `${raw.tls.crl} is not signed by the relay CA ${raw.tls.ca} (make it with "frelay cert crl renew", or fix the path)`);
    return undefined;
  }
  return crl;
}

/** The node certificate and key named by `cluster` (default: where `frelay cert node` writes them). */
function loadNodeFiles(errors: ErrorList, dir: string, raw: NonNullable<RawConfig["cluster"]>): { cert: LoadedFile; key: LoadedFile } | undefined {
  const defaults = nodeCertFiles(path.join(dir, "certs"), raw.node);
  const certRel = raw.cert ?? path.relative(dir, defaults.cert);
  const keyRel = raw.key ?? path.relative(dir, defaults.key);
  const hint = `run "frelay cert node ${raw.node}", or set cluster.cert and cluster.key`;
  const read = (part: string, rel: string): LoadedFile | undefined => {
    if (fs.existsSync(path.resolve(dir, rel))) return loadPem(errors, ["cluster", part], dir, rel);
    errors.add(["cluster", part], `${rel} does not exist (${hint})`);
    return undefined;
  };
  const cert = read("cert", certRel);
  const key = read("key", keyRel);
  if (!cert || !key) return undefined;
  try {
    const x509 = new crypto.X509Certificate(cert.pem);
    if (!isNodeCertificate(x509)) errors.add(["cluster", "cert"], `${certRel} is not a node certificate (${hint})`);
    else if (!x509.checkPrivateKey(crypto.createPrivateKey(key.pem))) errors.add(["cluster", "key"], `${keyRel} does not match ${certRel} (${hint})`);
  } catch {
    errors.add(["cluster", "cert"], `${certRel} or ${keyRel} is not PEM (${hint})`);
    return undefined;
  }
  return { cert, key };
}

function fingerprintOf(text: string, files: readonly (LoadedFile | undefined)[]): string {
  const h = crypto.createHash("sha256").update(text);
  for (const f of files) h.update("\0").update(f ? f.pem : "");
  return h.digest("hex");
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** read → parse → validate → default → resolve paths → load files → freeze. Throws every error at once. */
export function loadConfig(file: string): RelayConfig {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const text = readConfigText(abs);
  const data = parseJson(text, abs);
  const errors = new ErrorList(text, abs);
  if (!validate(data)) {
    for (const e of validate.errors ?? []) {
      const { parts, text: message } = schemaMessage(e);
      errors.add(parts, message);
    }
    throw invalid(abs, errors.items);
  }
  const raw = data;

  const address = parseHostPort(raw.address);
  if (typeof address === "string") errors.add(["address"], address);
  else if (address.kind !== "tcp") errors.add(["address"], "must be host:port");
  const fronting = raw.fronting ? parseHostPort(raw.fronting.address, true) : undefined;
  if (typeof fronting === "string") errors.add(["fronting", "address"], fronting);
  const metrics = raw.metrics ? parseHostPort(raw.metrics.address) : undefined;
  if (typeof metrics === "string") errors.add(["metrics", "address"], metrics);
  const peer = raw.cluster ? parseHostPort(raw.cluster.peer_address) : undefined;
  if (typeof peer === "string") errors.add(["cluster", "peer_address"], peer);
  if (raw.cluster) {
    try {
      new URL(raw.cluster.redis);
    } catch {
      errors.add(["cluster", "redis"], `"${raw.cluster.redis}" is not a Redis URL (write e.g. "redis://127.0.0.1:6379/0")`);
    }
  }

  const checkAddressList = (parts: PathPart[], list: readonly string[] | undefined) =>
    list?.forEach((entry, i) => {
      const [addr, bits, extra] = entry.split("/");
      const family = net.isIP(addr ?? "");
      const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
      if (!family || !bitsOk || extra !== undefined) {
        errors.add([...parts, i], `"${entry}" is not an IP address or CIDR block (write e.g. "127.0.0.1", "::1" or "10.0.0.0/8")`);
      }
    });
  checkAddressList(["fronting", "trusted_proxies"], raw.fronting?.trusted_proxies);
  checkAddressList(["proxy_protocol_from"], raw.proxy_protocol_from);
  if (raw.fronting?.socket_group !== undefined && fronting && typeof fronting !== "string" && fronting.kind !== "unix") {
    errors.add(["fronting", "socket_group"], `applies only to a unix socket fronting.address (remove it, or give a socket path)`);
  }

  const h2 = {
    bufferBytes: (raw.limits?.h2_connection_buffer_mib ?? DEFAULTS.limits.h2_connection_buffer_mib) * 2 ** 20,
    maxStreams: raw.limits?.h2_max_streams ?? DEFAULTS.limits.h2_max_streams,
  };
  // Each stream's window is the budget shared by the streams; below 64 KiB a stream crawls.
  const window = Math.floor(h2.bufferBytes / h2.maxStreams);
  if (window < 64 * 1024) {
    errors.add(["limits", "h2_max_streams"], `leaves each HTTP/2 stream ${(window / 1024).toFixed(1)} KiB of limits.h2_connection_buffer_mib, under the 64 KiB a stream needs (lower h2_max_streams or raise h2_connection_buffer_mib)`);
  }

  raw.routes.forEach((r, i) => {
    if (r.between[0] === r.between[1] && !r.between[0].startsWith("*")) {
      errors.add(["routes", i, "between"], `names ${r.between[0]} twice (a party cannot be routed to itself; name two different ends)`);
    }
  });

  const files = {
    ca: loadPem(errors, ["tls", "ca"], dir, raw.tls.ca),
    cert: loadPem(errors, ["tls", "cert"], dir, raw.tls.cert),
    key: loadPem(errors, ["tls", "key"], dir, raw.tls.key),
    crl: raw.tls.crl ? loadPem(errors, ["tls", "crl"], dir, raw.tls.crl) : undefined,
  };
  const crl = checkTlsFiles(errors, raw, files);
  const nodeFiles = raw.cluster ? loadNodeFiles(errors, dir, raw.cluster) : undefined;
  if (errors.items.length > 0) throw invalid(abs, errors.items);

  const t = { ...DEFAULTS.timeouts, ...raw.timeouts };
  const config: RelayConfig = {
    file: abs,
    dir,
    address: address as ListenAddress & { kind: "tcp" },
    tls: {
      paths: { ca: files.ca!.path, cert: files.cert!.path, key: files.key!.path, ...(files.crl ? { crl: files.crl.path } : {}) },
      caPem: files.ca!.pem,
      certPem: files.cert!.pem,
      keyPem: files.key!.pem,
      ...(files.crl ? { crlPem: files.crl.pem } : {}),
      ...(crl ? { crl: { revoked: crl.entries.map((e) => e.serial), thisUpdate: crl.thisUpdate.toISOString(), ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.toISOString() } : {}) } } : {}),
    },
    routes: raw.routes.map((r) => [r.between[0], r.between[1]] as const),
    proxyProtocol: raw.proxy_protocol ?? false,
    proxyProtocolFrom: raw.proxy_protocol_from ?? [...DEFAULTS.proxy_protocol_from],
    nativeSplice: raw.native_splice ?? "auto",
    ...(raw.fronting && fronting && typeof fronting !== "string"
      ? {
          fronting: {
            address: fronting.kind === "unix" ? { ...fronting, path: path.resolve(dir, fronting.path) } : fronting,
            path: (raw.fronting.path ?? DEFAULTS.fronting.path).replace(/\/+$/, ""),
            clientCertHeader: (raw.fronting.client_cert_header ?? DEFAULTS.fronting.client_cert_header).toLowerCase(),
            clientAddressHeader: (raw.fronting.client_address_header ?? DEFAULTS.fronting.client_address_header).toLowerCase(),
            trustedProxies: raw.fronting.trusted_proxies ?? [...DEFAULTS.fronting.trusted_proxies],
            socketMode: parseInt(raw.fronting.socket_mode ?? DEFAULTS.fronting.socket_mode, 8),
            ...(raw.fronting.socket_group !== undefined ? { socketGroup: raw.fronting.socket_group } : {}),
          },
        }
      : {}),
    timeouts: {
      handshakeMs: parseDuration(t.handshake),
      pairMs: parseDuration(t.pair),
      idleMs: parseDuration(t.idle),
      drainMs: parseDuration(t.drain),
      flushGraceMs: parseDuration(t.flush_grace),
      h2IdleMs: parseDuration(t.h2_idle),
      h2LifetimeMs: parseDuration(t.h2_lifetime),
    },
    limits: {
      maxConnections: raw.limits?.max_connections ?? DEFAULTS.limits.max_connections,
      maxWaitingPerIdentity: raw.limits?.max_waiting_per_identity ?? DEFAULTS.limits.max_waiting_per_identity,
      maxHandshakesPerAddress: raw.limits?.max_handshakes_per_address ?? DEFAULTS.limits.max_handshakes_per_address,
      h2BufferBytes: h2.bufferBytes,
      h2MaxStreams: h2.maxStreams,
    },
    pidfile: path.resolve(dir, raw.pidfile ?? DEFAULTS.pidfile),
    controlSocket: path.resolve(dir, raw.control_socket ?? DEFAULTS.control_socket),
    log: { file: path.resolve(dir, raw.log?.file ?? DEFAULTS.log.file), level: raw.log?.level ?? DEFAULTS.log.level },
    ...(metrics && typeof metrics !== "string" && metrics.kind === "tcp" ? { metrics: { address: metrics } } : {}),
    ...(raw.cluster && nodeFiles && peer && typeof peer !== "string"
      ? {
          cluster: {
            redis: raw.cluster.redis,
            node: raw.cluster.node,
            peerAddress: peer as ListenAddress & { kind: "tcp" },
            certPem: nodeFiles.cert.pem,
            keyPem: nodeFiles.key.pem,
            paths: { cert: nodeFiles.cert.path, key: nodeFiles.key.path },
            workers: raw.cluster.workers ?? 1,
          },
        }
      : {}),
    fingerprint: fingerprintOf(text, [files.ca, files.cert, files.key, files.crl, nodeFiles?.cert, nodeFiles?.key]),
    watchedFiles: [abs, files.ca!.path, files.cert!.path, files.key!.path, ...(files.crl ? [files.crl.path] : [])],
  };
  return deepFreeze(config);
}

function invalid(file: string, items: string[]): ConfigError {
  const n = items.length;
  return new ConfigError("FRELAY_ERR_CONFIG_INVALID", `${file}: ${n} error${n === 1 ? "" : "s"} found, config not used`, items);
}

/** The config path a command uses: -c, then $FRELAY_CONFIG, then ./config.json. */
export function configPath(flag: string | undefined): string {
  return path.resolve(flag ?? process.env["FRELAY_CONFIG"] ?? "config.json");
}

/**
 * The pidfile and control socket a config names, read leniently: `stop` and `status` must work
 * even when config.json has since been broken by an edit.
 */
export function readDaemonPaths(file: string): { pidfile: string; controlSocket: string; logFile: string } {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  let raw: RawConfig | undefined;
  try {
    raw = JSON.parse(fs.readFileSync(abs, "utf8")) as RawConfig;
  } catch {
    raw = undefined;
  }
  const str = (v: unknown, d: string) => path.resolve(dir, typeof v === "string" && v ? v : d);
  return {
    pidfile: str(raw?.pidfile, DEFAULTS.pidfile),
    controlSocket: str(raw?.control_socket, DEFAULTS.control_socket),
    logFile: str(raw?.log?.file, DEFAULTS.log.file),
  };
}

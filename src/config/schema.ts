/** The JSON Schema of config.json (ajv), each key with its description and what a reload does with it: the one source of docs/configuration.md. */
import { DURATION_PATTERN } from "./duration";
import { LABEL } from "../pki/identity";

/** A route end: an identity, or `*` / `*.<rest>` where `*` is exactly one leftmost label. */
export const ROUTE_END_PATTERN = `^(\\*|${LABEL})(\\.${LABEL})*$`;

/**
 * `x-reload` says what a reload does with a changed value (docs/configuration.md shows it):
 * "live": applies at once, also to what is already waiting or open; "new": applies to
 * connections, requests or sessions that start after the reload; "rebind": the new listener is
 * bound before the old one stops accepting; "restart": only read at start.
 */
export type ReloadEffect = "live" | "new" | "rebind" | "restart";
export const RELOAD_KEYWORD = "x-reload";
/**
 * `x-default` names a default that is derived when the config is read (from another key), so
 * it cannot be a JSON value in DEFAULTS; docs/configuration.md shows it in the default column.
 */
export const DERIVED_DEFAULT_KEYWORD = "x-default";

const duration = (description: string, reload: ReloadEffect) => ({ type: "string", pattern: DURATION_PATTERN, description, "x-reload": reload });
const nonEmpty = (description: string, reload: ReloadEffect) => ({ type: "string", minLength: 1, description, "x-reload": reload });
const derivedPath = (description: string, derived: string) => ({ ...nonEmpty(description, "restart"), "x-default": derived });

/**
 * The JSON Schema of config.json (docs/configuration.md is generated from it: `npm run docs`).
 * Unknown keys are rejected everywhere. Defaults live in DEFAULTS (config/load.ts).
 */
export const configSchema = {
  type: "object",
  additionalProperties: false,
  required: ["address", "tls", "routes"],
  properties: {
    $schema: { type: "string", description: "Ignored: lets an editor find a JSON Schema for the file.", "x-reload": "live" },
    address: nonEmpty("The direct listener, `host:port` (`[v6]:port` for IPv6): parties connect here with mutual TLS, the stream protocol or HTTP/2 (ALPN `h2`).", "rebind"),
    tls: {
      type: "object",
      additionalProperties: false,
      required: ["ca", "cert", "key"],
      description: "The relay's own PKI files, PEM, relative to the config file's folder. A changed file is reloaded like a changed config.",
      properties: {
        ca: nonEmpty("The relay CA: party relay certificates (and a front's forwarded ones) must chain to it.", "new"),
        cert: nonEmpty("The relay's server certificate.", "new"),
        key: nonEmpty("The key of `tls.cert` (must match it).", "new"),
        crl: nonEmpty("The revocation list `frelay cert revoke` writes. Absent: nothing is revoked. On reload, waiting parties and sessions of a newly revoked certificate are closed.", "live"),
      },
    },
    routes: {
      type: "array",
      description: "Who may talk to whom. A route is symmetric; an end is an identity (`0.user1`, or one label like `0` as Flock's fr-adm names parties), `*.<rest>` or `*`, where `*` stands for exactly one leftmost label (`[\"*\", \"*\"]`: any two one-label parties). On reload, waiting parties and sessions whose route is gone are closed (403).",
      "x-reload": "live",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["between"],
        properties: {
          between: {
            type: "array",
            minItems: 2,
            maxItems: 2,
            description: "The two ends of the route.",
            items: { type: "string", pattern: ROUTE_END_PATTERN, maxLength: 253 },
          },
        },
      },
    },
    proxy_protocol: {
      type: "boolean",
      default: false,
      description: "The direct listener expects a PROXY protocol v1 or v2 header before TLS (TLS passthrough fronts); a connection without a valid one is dropped. Every direct client must then come through the proxy.",
      "x-reload": "new",
    },
    proxy_protocol_from: {
      type: "array",
      items: { type: "string", minLength: 1 },
      description: "Addresses or CIDR blocks of the fronts whose PROXY header is believed; any other peer is closed at accept (with `proxy_protocol` on). The per-address handshake limit counts the TCP peer from accept, then the client a listed front names; IPv6 counts per /64.",
      "x-reload": "new",
    },
    native_splice: {
      enum: ["auto", "off"],
      default: "auto",
      description: "How paired stream-protocol sessions move their bytes: \"auto\" by splice(2) in the native engine where its addon was built at install (Linux), else in JavaScript; \"off\" always in JavaScript. FRELAY_SPLICE=off in the environment also forces JavaScript.",
      "x-reload": "new",
    },
    fronting: {
      type: "object",
      additionalProperties: false,
      required: ["address"],
      description: "The HTTP/2 cleartext (h2c) listener for a web server that terminated TLS and forwards the client certificate in a header. Absent: off.",
      properties: {
        address: nonEmpty("`host:port`, or a unix socket path (absolute or starting with `./`; a unix socket is trusted, its file permissions decide who may connect).", "rebind"),
        path: { type: "string", pattern: "^/[A-Za-z0-9._~/-]*$", description: "The path prefix: a party's stream is `POST <path>/connect`.", "x-reload": "new" },
        client_cert_header: { type: "string", pattern: "^[A-Za-z0-9-]+$", description: "The header carrying the party's certificate: URL-escaped PEM or base64 DER.", "x-reload": "new" },
        client_address_header: { type: "string", pattern: "^[A-Za-z0-9-]+$", description: "The header where a front appends the client's address (x-forwarded-for style): the relay logs the rightmost entry that is not itself a trusted proxy.", "x-reload": "new" },
        trusted_proxies: { type: "array", items: { type: "string", minLength: 1 }, description: "Addresses or CIDR blocks of the fronts the certificate header is believed from (TCP only; a unix socket is trusted); anyone else is refused.", "x-reload": "new" },
        socket_mode: { type: "string", pattern: "^0?[0-7]{3}$", description: "The unix socket's file mode (octal string), set at bind, never the umask's: whoever can connect to the socket is believed about any identity.", "x-reload": "live" },
        socket_group: nonEmpty("The group (name or gid) the unix socket is given to, e.g. the web server's; the relay's user must belong to it. Absent: the relay's own group.", "live"),
      },
    },
    timeouts: {
      type: "object",
      additionalProperties: false,
      description: "Durations are strings: `\"500ms\"`, `\"30s\"`, `\"5m\"`, `\"1h\"`; a bare number is an error.",
      properties: {
        handshake: duration("From accept to a complete request: TLS plus the request (or the first HTTP/2 stream).", "new"),
        pair: duration("How long a party waits for its peer before a 408.", "new"),
        idle: duration("A session with no traffic in either direction for this long is closed. `0s`: never.", "new"),
        drain: duration("At stop, how long open sessions may go on before they are closed.", "live"),
        flush_grace: duration("Once both parties of a session have sent their end (FIN), how long the relay may still take to hand the last bytes it holds to a party that is slow to read them; then the session is closed, and what was not taken is lost.", "new"),
        h2_idle: duration("An HTTP/2 connection (direct or fronting) with no open stream is closed after this. `0s`: never.", "new"),
        h2_lifetime: duration("Every HTTP/2 connection is sent GOAWAY this long after it began (open streams may finish; then it is closed). `0s`: never.", "new"),
      },
    },
    limits: {
      type: "object",
      additionalProperties: false,
      description: "Bounds on what clients can hold.",
      properties: {
        max_connections: { type: "integer", minimum: 1, maximum: 10_000_000, description: "TCP connections on the direct and fronting listeners together; beyond it a direct party gets its handshake and a 429 (a fronting connection is closed), beyond 1.25 × it new direct connections are closed at once (logged and counted as failed handshakes).", "x-reload": "new" },
        max_waiting_per_identity: { type: "integer", minimum: 1, maximum: 1_000_000, description: "Parties of one identity waiting at once; more are refused 429.", "x-reload": "new" },
        max_handshakes_per_address: { type: "integer", minimum: 1, maximum: 1_000_000, description: "Connections from one client address (after any PROXY header) that have not yet finished TLS and their request; beyond it a new one is closed at once.", "x-reload": "new" },
        h2_connection_buffer_mib: { type: "integer", minimum: 1, maximum: 4096, description: "The most data, in MiB, one HTTP/2 connection (direct or fronting) can make the relay hold when the peers of its streams do not read, whatever the number of streams: each stream gets `h2_connection_buffer_mib / h2_max_streams` (at least 64 KiB): a quarter of it, at most 256 KiB, for data waiting to go to the stream, the rest as its receive window (what it may send ahead).", "x-reload": "new" },
        h2_max_streams: { type: "integer", minimum: 1, maximum: 1000, description: "Streams (parties) open at once on one HTTP/2 connection; a client or front that needs more opens another connection. Fewer streams give each a larger window (faster over long round trips).", "x-reload": "new" },
      },
    },
    pidfile: nonEmpty("The daemon's pidfile: the PID, then that process's start time. A reload that changes it writes the new file, then removes the old.", "live"),
    control_socket: nonEmpty("The local control socket (unix, mode 0600) that `status`, `reload` and `stop` use.", "rebind"),
    log: {
      type: "object",
      additionalProperties: false,
      description: "Where and how much to log (JSON lines).",
      properties: {
        file: nonEmpty("The log file (never opened through a symbolic link); SIGUSR1 reopens it (logrotate). After a reload that changes it, the old file's last line names the new one.", "live"),
        level: { enum: ["error", "warn", "info", "debug"], description: "The least severe level written.", "x-reload": "live" },
      },
    },
    metrics: {
      type: "object",
      additionalProperties: false,
      required: ["address"],
      description: "The HTTP listener for Prometheus `/metrics`, `/healthz` and `/readyz`. Absent: off.",
      properties: { address: nonEmpty("`host:port`; keep it on loopback or a private network.", "rebind") },
    },
    cluster: {
      type: "object",
      additionalProperties: false,
      required: ["redis", "node", "peer_address"],
      description: "Scale-out: this process is one node of a cluster whose nodes meet in one Redis, so two parties pair wherever each landed. Absent: off, and no Redis is needed. Read only at start: a reload that changes it says a restart is needed.",
      "x-reload": "restart",
      properties: {
        redis: { type: "string", pattern: "^rediss?://", description: "The Redis every node shares, `redis://[user:password@]host:port/db` (`rediss://` for TLS).", "x-reload": "restart" },
        node: { type: "string", pattern: `^${LABEL}$`, description: "This node's name, unique in the cluster (one DNS label). Its certificate comes from `frelay cert node <name>`.", "x-reload": "restart" },
        peer_address: nonEmpty("`host:port` where the other nodes reach this one for cross-node sessions (mutual TLS with node certificates); it is also bound here.", "restart"),
        cert: derivedPath("This node's certificate for the node-to-node link.", "certs/nodes/<node>/node.pem"),
        key: derivedPath("The key of `cluster.cert`.", "certs/nodes/<node>/node.key"),
        workers: { type: "integer", minimum: 1, maximum: 256, default: 1, description: "How many relay processes `frelay start` runs on `address` (`--workers` overrides); each is a node named `<node>-<n>`, with `peer_address` and `metrics.address` ports counted up from the given ones.", "x-reload": "restart" },
      },
    },
  },
} as const;

/** What the schema accepts, as TypeScript sees it. */
export interface RawConfig {
  address: string;
  tls: { ca: string; cert: string; key: string; crl?: string };
  routes: { between: [string, string] }[];
  proxy_protocol?: boolean;
  proxy_protocol_from?: string[];
  fronting?: { address: string; path?: string; client_cert_header?: string; client_address_header?: string; trusted_proxies?: string[]; socket_mode?: string; socket_group?: string };
  native_splice?: "auto" | "off";
  timeouts?: { handshake?: string; pair?: string; idle?: string; drain?: string; flush_grace?: string; h2_idle?: string; h2_lifetime?: string };
  limits?: { max_connections?: number; max_waiting_per_identity?: number; max_handshakes_per_address?: number; h2_connection_buffer_mib?: number; h2_max_streams?: number };
  pidfile?: string;
  control_socket?: string;
  log?: { file?: string; level?: "error" | "warn" | "info" | "debug" };
  metrics?: { address: string };
  cluster?: { redis: string; node: string; peer_address: string; cert?: string; key?: string; workers?: number };
}

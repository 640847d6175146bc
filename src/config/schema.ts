import { DURATION_PATTERN } from "./duration";
import { LABEL } from "../pki/identity";

/** A route end: an identity, or `*.<rest>` where `*` is exactly one leftmost label. */
export const ROUTE_END_PATTERN = `^(\\*|${LABEL})(\\.${LABEL})+$`;

const duration = { type: "string", pattern: DURATION_PATTERN };
const nonEmpty = { type: "string", minLength: 1 };

/** The JSON Schema of config.json (SPEC section 4). Unknown keys are rejected everywhere. */
export const configSchema = {
  type: "object",
  additionalProperties: false,
  required: ["address", "tls", "routes"],
  properties: {
    $schema: { type: "string" },
    address: nonEmpty,
    tls: {
      type: "object",
      additionalProperties: false,
      required: ["ca", "cert", "key"],
      properties: { ca: nonEmpty, cert: nonEmpty, key: nonEmpty, crl: nonEmpty },
    },
    routes: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["between"],
        properties: {
          between: {
            type: "array",
            minItems: 2,
            maxItems: 2,
            items: { type: "string", pattern: ROUTE_END_PATTERN, maxLength: 253 },
          },
        },
      },
    },
    proxy_protocol: { type: "boolean" },
    fronting: {
      type: "object",
      additionalProperties: false,
      required: ["address"],
      properties: {
        address: nonEmpty,
        path: { type: "string", pattern: "^/[A-Za-z0-9._~/-]*$" },
        client_cert_header: { type: "string", pattern: "^[A-Za-z0-9-]+$" },
        trusted_proxies: { type: "array", items: nonEmpty },
      },
    },
    timeouts: {
      type: "object",
      additionalProperties: false,
      properties: { handshake: duration, pair: duration, idle: duration, drain: duration },
    },
    limits: {
      type: "object",
      additionalProperties: false,
      properties: {
        max_connections: { type: "integer", minimum: 1, maximum: 10_000_000 },
        max_waiting_per_identity: { type: "integer", minimum: 1, maximum: 1_000_000 },
        max_handshakes_per_address: { type: "integer", minimum: 1, maximum: 1_000_000 },
      },
    },
    pidfile: nonEmpty,
    control_socket: nonEmpty,
    log: {
      type: "object",
      additionalProperties: false,
      properties: {
        file: nonEmpty,
        level: { enum: ["error", "warn", "info", "debug"] },
      },
    },
    metrics: {
      type: "object",
      additionalProperties: false,
      required: ["address"],
      properties: { address: nonEmpty },
    },
  },
} as const;

/** What the schema accepts, as TypeScript sees it. */
export interface RawConfig {
  address: string;
  tls: { ca: string; cert: string; key: string; crl?: string };
  routes: { between: [string, string] }[];
  proxy_protocol?: boolean;
  fronting?: { address: string; path?: string; client_cert_header?: string; trusted_proxies?: string[] };
  timeouts?: { handshake?: string; pair?: string; idle?: string; drain?: string };
  limits?: { max_connections?: number; max_waiting_per_identity?: number; max_handshakes_per_address?: number };
  pidfile?: string;
  control_socket?: string;
  log?: { file?: string; level?: "error" | "warn" | "info" | "debug" };
  metrics?: { address: string };
}

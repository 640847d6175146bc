import * as net from "node:net";

export type ListenAddress =
  | { kind: "tcp"; host: string; port: number; text: string }
  | { kind: "unix"; path: string; text: string };

/**
 * "host:port", "[v6]:port", or (where allowed) a unix socket path (absolute, or starting with
 * "./"). Returns an error sentence instead of throwing, for the config checker.
 */
export function parseHostPort(text: string, allowUnix = false): ListenAddress | string {
  if (allowUnix && (text.startsWith("/") || text.startsWith("./") || text.startsWith("unix:"))) {
    return { kind: "unix", path: text.replace(/^unix:/, ""), text };
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (!m) {
    return `"${text}" is not host:port (write e.g. "0.0.0.0:6000" or "[::1]:6000"${allowUnix ? ", or a unix socket path" : ""})`;
  }
  const host = (m[1] ?? m[2]) as string;
  if (m[1] !== undefined && net.isIPv6(host) === false) return `"${text}" has an invalid IPv6 address`;
  const port = Number(m[3]);
  if (port > 65535) return `"${text}" has port ${port}, above 65535`;
  return { kind: "tcp", host, port, text };
}

/** host:port for display and for clients, with IPv6 hosts bracketed. */
export function formatHostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

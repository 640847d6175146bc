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

/**
 * The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64,
 * the block one host or customer is usually given (an attacker with a /64 has 2^64 addresses).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return "?";
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) return v4;
  if (!net.isIPv6(address)) return address;
  const [head, tail] = address.split("%")[0]!.split("::") as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  // A trailing dotted IPv4 part (64:ff9b::192.0.2.1) stands for two groups.
  const width = (g: string[]) => g.reduce((n, x) => n + (x.includes(".") ? 2 : 1), 0);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - width(h) - width(t))).fill("0"), ...t];
  return `${all.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

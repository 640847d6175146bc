/** One way to bind every listener: host:port or unix socket, unlink-then-bind, a socket's mode from birth, one error naming the setting. */
import * as fs from "node:fs";
import type * as net from "node:net";
import { formatHostPort, type ListenAddress } from "../config/address";
import { DaemonError } from "../errors";

export interface BindOptions {
  /**
   * The config key the address came from, for the error message (e.g. "fronting.address"):
   * a failure names the setting to change.
   */
  setting: string;
  /** A unix socket's file mode, in force from the socket's creation (umask while binding). */
  socketMode?: number;
  /**
   * Bind in this process even when it is a worker of Node's cluster module (whose listeners
   * are otherwise shared through the primary): for a worker's own metrics and cluster link.
   */
  exclusive?: boolean;
}

/**
 * A worker of `start --workers N` on a Node that offers SO_REUSEPORT (cluster/workers.ts sets
 * FRELAY_REUSEPORT for it): its party listeners bind sockets of their own on the shared address
 * and the kernel spreads connections among the workers, instead of the primary accepting them all.
 */
const OWN_SOCKET: object = process.env["FRELAY_REUSEPORT"] === "1" ? { exclusive: true, reusePort: true } : {};

/**
 * Binds any listening server (net, http, http2) to a host:port or a unix socket path, the one
 * way every listener does it: a leftover socket file is unlinked first (the caller has already
 * made sure no relay is running on it: a live one would be a second relay), a unix socket gets
 * its mode from birth, and a failure is one DaemonError naming the setting and the fix.
 * Resolves with the bound address as text (the port, when 0 was asked, is the real one).
 */
export function bindServer(server: net.Server, address: ListenAddress, opts: BindOptions): Promise<string> {
  if (address.kind === "unix") {
    try {
      fs.unlinkSync(address.path);
    } catch {
      // none there
    }
  }
  return new Promise((resolve, reject) => {
    const oldMask = address.kind === "unix" && opts.socketMode !== undefined ? process.umask(~opts.socketMode & 0o777) : undefined;
    const restoreMask = () => {
      if (oldMask !== undefined) process.umask(oldMask);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      restoreMask();
      reject(new DaemonError("FRELAY_ERR_LISTEN", `${opts.setting} ${address.text} ${bindFailure(err, opts.setting)}`));
    };
    server.once("error", onError);
    const done = () => {
      restoreMask();
      server.off("error", onError);
      if (address.kind === "unix" && opts.socketMode !== undefined) fs.chmodSync(address.path, opts.socketMode);
      resolve(boundText(server));
    };
    if (address.kind === "unix") server.listen(address.path, done);
    else server.listen({ host: address.host, port: address.port, ...(opts.exclusive ? { exclusive: true } : OWN_SOCKET) }, done);
  });
}

function bindFailure(err: NodeJS.ErrnoException, setting: string): string {
  switch (err.code) {
    case "EADDRINUSE":
      return `is already in use (stop the other process or change ${setting})`;
    case "EACCES":
      return `needs privileges (use a port above 1023, or check the socket folder's permissions)`;
    case "EADDRNOTAVAIL":
      return `is not an address of this host (change ${setting})`;
    case "ENOENT":
      return `cannot be created: its folder does not exist (create it, or change ${setting})`;
    default:
      return `cannot be bound (${err.code ?? err.message}; change ${setting})`;
  }
}

/** What a bound server listens on, as "host:port" (IPv6 bracketed) or the socket path. */
export function boundText(server: net.Server): string {
  const a = server.address();
  return a && typeof a === "object" ? formatHostPort(a.address, a.port) : String(a ?? "");
}

import * as net from "node:net";
import * as tls from "node:tls";

/**
 * The descriptor of a plain TCP socket, for the native data path; undefined when it cannot be
 * known. This is the one place frelay reads a private field of Node's: Node has no public way
 * to get a net.Socket's descriptor (a long-standing, declined feature request), and the other
 * routes are worse: finding it by its addresses means scanning every open descriptor per
 * session, and unwrapping the handle in C++ needs Node's unstable internal headers.
 * `_handle.fd` has been there, with this meaning, on every Node line frelay supports. It is
 * never trusted blindly: the native side checks that the descriptor is a connected TCP socket
 * whose two ports are the ones the socket reports publicly, and on any doubt the session stays
 * on the JavaScript path.
 */
export function socketFd(socket: unknown): number | undefined {
  if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

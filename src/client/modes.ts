import * as net from "node:net";
import { parseHostPort } from "../config/address";
import { ClientError, RefusalError, UsageError, describe } from "../errors";
import { Splice } from "../datapath/splice";
import { connect, type ConnectOptions } from "./connect";

const EMPTY = Buffer.alloc(0);

/** stdin/stdout mode (like nc; usable as an ssh ProxyCommand). Resolves when both directions end. */
export async function runStdio(opts: ConnectOptions, stdin: NodeJS.ReadableStream, stdout: NodeJS.WritableStream): Promise<void> {
  const { socket } = await connect(opts);
  await new Promise<void>((resolve, reject) => {
    let open = 2;
    const oneDone = () => {
      if (--open === 0) resolve();
    };
    stdin.pipe(socket); // stdin EOF → end() → close_notify + FIN: the half-close reaches the peer
    socket.pipe(stdout, { end: false });
    let ended = false;
    socket.on("end", () => {
      ended = true;
      // Flush what was written, then report this direction done; the other may go on.
      stdout.write("", oneDone);
    });
    socket.on("finish", oneDone);
    // Closed before its end: some of the peer's data may never have been delivered. Say so
    // (exit 1) rather than let the process run out of work and exit 0 with a short stdout.
    socket.on("close", () => {
      if (!ended) reject(new ClientError("FRELAY_ERR_PEER", `connection to ${opts.dest} closed before the end of its data (some of it may be missing)`));
    });
    socket.on("error", (err) => reject(new ClientError("FRELAY_ERR_PEER", `connection to ${opts.dest} failed: ${describe(err)}`)));
  });
}

function hostPort(text: string, flag: string): { host: string; port: number } {
  const a = parseHostPort(text);
  if (typeof a === "string" || a.kind !== "tcp") throw new UsageError(`${flag} ${typeof a === "string" ? a : "must be host:port"}`);
  return a;
}

export interface ModeHandle {
  /** Where --listen is listening. */
  address?: net.AddressInfo;
  close(): void;
}

/** --listen: each local connection becomes one relayed session. */
export async function runListen(opts: ConnectOptions, listen: string, log: (line: string) => void): Promise<ModeHandle> {
  const { host, port } = hostPort(listen, "--listen");
  const server = net.createServer({ allowHalfOpen: true }, (local) => {
    local.on("error", () => undefined);
    local.pause();
    connect(opts).then(
      ({ socket }) => {
        new Splice({ stream: local, leftover: EMPTY }, { stream: socket, leftover: EMPTY }, () => undefined);
      },
      (err: unknown) => {
        log(`frelay connect: ${describe(err)}`);
        local.destroy();
      },
    );
  });
  server.on("error", (err) => log(`frelay connect: --listen ${listen}: ${describe(err)}`));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => resolve());
  });
  return { address: server.address() as net.AddressInfo, close: () => server.close() };
}

/**
 * --forward: keeps one connection waiting at the relay; each pairing is connected to the local
 * service and a new waiting connection is armed at once. A pair timeout (408) simply re-arms;
 * other failures back off, up to 30 s, so a broken setup does not spin.
 */
export function runForward(opts: ConnectOptions, forward: string, log: (line: string) => void): ModeHandle {
  const { host, port } = hostPort(forward, "--forward");
  let stopped = false;
  let backoffMs = 0;
  const arm = (): void => {
    if (stopped) return;
    connect(opts).then(
      ({ socket }) => {
        backoffMs = 0;
        arm();
        const local = net.connect({ host, port, allowHalfOpen: true });
        local.on("error", (err) => {
          log(`frelay connect: --forward ${forward}: ${describe(err)}`);
          socket.destroy();
        });
        local.once("connect", () => new Splice({ stream: socket, leftover: EMPTY }, { stream: local, leftover: EMPTY }, () => undefined));
      },
      (err: unknown) => {
        const status = err instanceof RefusalError ? err.status : undefined;
        if (status !== 408) {
          backoffMs = Math.min(30_000, backoffMs ? backoffMs * 2 : 500);
          log(`frelay connect: ${describe(err)} (retrying in ${backoffMs / 1000}s)`);
        }
        setTimeout(arm, status === 408 ? 0 : backoffMs);
      },
    );
  };
  arm();
  return {
    close: () => {
      stopped = true;
    },
  };
}

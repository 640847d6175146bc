/** The daemon's control API: HTTP on a unix socket (mode 0600) for status, sessions, reload, stop and route edits. */
import * as fs from "node:fs";
import * as http from "node:http";
import { UsageError, describe, isFrelayError } from "../errors";
import { addRoute, listRoutes, removeRoute } from "../config/route-edit";
import type { Logger } from "../log/logger";
import { bindServer } from "../transport/bind";

export interface ControlHandlers {
  /** May answer later: with workers, the primary asks each of them. */
  status(): unknown;
  sessions(): unknown;
  reload(): Promise<{ ok: boolean; message: string }>;
  closeSession(id: string): boolean | Promise<boolean>;
  stop(): void;
  /** The config file routes are edited in (see config/route-edit.ts). */
  configFile(): string;
}

/** A /routes request body is one small JSON object. */
const MAX_BODY = 4096;

/** HTTP status for an edit that failed, by error code. */
function statusFor(code: string): number {
  return code === "FRELAY_ERR_USAGE" ? 400 : code === "FRELAY_ERR_ROUTE_NOT_FOUND" ? 404 : code === "FRELAY_ERR_CONFIG_INVALID" ? 409 : 500;
}

/** Reads `{"between": [a, b]}` from the request, bounded in size. */
function readBetween(req: http.IncomingMessage): Promise<[unknown, unknown]> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      text += c;
      if (text.length > MAX_BODY) req.destroy(new UsageError(`the request body is larger than ${MAX_BODY} bytes`));
    });
    req.on("error", reject);
    req.on("end", () => {
      try {
        const between = (JSON.parse(text) as { between?: unknown }).between;
        if (!Array.isArray(between) || between.length !== 2) throw new Error();
        resolve([between[0], between[1]]);
      } catch {
        reject(new UsageError(`the body must be {"between": ["<a>", "<b>"]}`));
      }
    });
  });
}

/**
 * The local control API on a unix socket, mode 0600 from creation (umask while binding):
 * GET /status, GET /sessions, POST /reload, DELETE /sessions/<id>, POST /stop, and GET, POST
 * and DELETE /routes (body `{"between": [a, b]}`), which edit config.json as `frelay route` does.
 */
export class ControlServer {
  private readonly server: http.Server;

  constructor(private readonly socketPath: string, handlers: ControlHandlers, private readonly log: Logger) {
    this.server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
        res.end(text);
      };
      const url = req.url ?? "/";
      const route = `${req.method} ${url.replace(/\/sessions\/[^/]+$/, "/sessions/:id")}`;
      if (url === "/routes" && (req.method === "POST" || req.method === "DELETE")) {
        const edit = req.method === "POST" ? addRoute : removeRoute;
        return void readBetween(req)
          .then(([a, b]) => {
            const message = edit(handlers.configFile(), a, b);
            this.log.info("route_edit", { method: req.method, between: [a, b], message });
            send(200, { ok: true, message });
          })
          .catch((err: unknown) => {
            const code = isFrelayError(err) ? err.code : "FRELAY_ERR_CONTROL";
            const details = isFrelayError(err) ? err.details : [];
            send(statusFor(code), { ok: false, code, message: describe(err), details });
          });
      }
      req.resume();
      try {
        switch (route) {
          case "GET /status":
            return void Promise.resolve(handlers.status()).then((s) => send(200, s), (err: unknown) => send(500, { error: describe(err) }));
          case "GET /routes":
            return send(200, { routes: listRoutes(handlers.configFile()).map((between) => ({ between })) });
          case "GET /sessions":
            return void Promise.resolve(handlers.sessions()).then((s) => send(200, s), (err: unknown) => send(500, { error: describe(err) }));
          case "POST /reload":
            return void handlers.reload().then(
              (r) => send(r.ok ? 200 : 409, r),
              (err: unknown) => send(500, { ok: false, message: describe(err) }),
            );
          case "DELETE /sessions/:id": {
            const id = decodeURIComponent(url.slice("/sessions/".length));
            return void Promise.resolve(handlers.closeSession(id)).then((ok) => (ok ? send(200, { closed: id }) : send(404, { error: `no session ${id}` })));
          }
          case "POST /stop":
            send(202, { stopping: true });
            return handlers.stop();
          default:
            return send(404, { error: `unknown endpoint ${req.method} ${url}` });
        }
      } catch (err) {
        this.log.error("control_error", { error: describe(err) });
        return send(500, { error: describe(err) });
      }
    });
    this.server.on("error", (err) => this.log.error("control_error", { error: describe(err) }));
    this.server.requestTimeout = 30_000;
  }

  /** Binds the socket; a leftover file from a dead daemon is removed first (caller checked the pidfile). */
  async listen(): Promise<void> {
    // The socket file is created by the bind itself: 0600 from birth, never wider.
    await bindServer(this.server, { kind: "unix", path: this.socketPath, text: this.socketPath }, { setting: "control_socket", socketMode: 0o600 });
  }

  /**
   * Stops taking requests and removes the socket file. `graceful` lets a request in progress
   * (the reload that moved the socket) finish first, for at most 5 s.
   */
  close(opts: { graceful?: boolean } = {}): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      if (opts.graceful) setTimeout(() => this.server.closeAllConnections(), 5000).unref();
      else this.server.closeAllConnections();
      try {
        fs.unlinkSync(this.socketPath);
      } catch {
        // gone
      }
    });
  }
}

import * as http from "node:http";
import { DaemonError } from "../errors";

export interface ControlResponse {
  status: number;
  body: unknown;
}

/** One request to the daemon's control socket (HTTP over a unix socket), bounded in time. */
export function controlRequest(socketPath: string, method: string, urlPath: string, timeoutMs = 10_000, body?: unknown): Promise<ControlResponse> {
  // An explicit length: Node sends a DELETE's body neither chunked nor with one by itself.
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = payload ? { "content-type": "application/json", "content-length": String(payload.length) } : {};
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, timeout: timeoutMs, headers }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 16 * 1024 * 1024) req.destroy(new DaemonError("FRELAY_ERR_CONTROL", `control socket ${socketPath} sent more than 16 MiB (is another program listening there?)`));
        else parts.push(c);
      });
      res.on("end", () => {
        const text = Buffer.concat(parts).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // plain text answer
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new DaemonError("FRELAY_ERR_CONTROL", `control socket ${socketPath} did not answer within ${timeoutMs / 1000}s`)));
    req.on("error", (err) => reject(err));
    req.end(payload);
  });
}

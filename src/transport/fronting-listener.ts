import type * as http2 from "node:http2";
import type { ListenAddress } from "../config/address";
import type { Logger } from "../log/logger";
import type { Relay } from "../relay/relay";
import type { TransportState } from "./direct-listener";
import { bindServer } from "./bind";
import { fronted } from "./fronted-identity";
import { H2Endpoint, type H2Hooks, type StreamOrigin } from "./h2-endpoint";

/**
 * `fronting.address`: h2c from a TLS-terminating web server (nginx grpc_pass, Apache h2c,
 * HAProxy proto h2), on host:port or a unix socket. The party's identity comes from the
 * certificate the front forwards in `client_cert_header`, believed only from `trusted_proxies`
 * (a unix socket is trusted: its file permissions decide who may connect).
 */
export class FrontingListener {
  readonly endpoint: H2Endpoint;
  private boundText = "";

  constructor(relay: Relay, private readonly state: () => TransportState, log: Logger, hooks: H2Hooks) {
    this.endpoint = new H2Endpoint(
      relay,
      log,
      hooks,
      () => ({ path: this.state().fronting?.path ?? "/frelay", originOf: (session, headers) => this.originOf(session, headers) }),
      () => this.state().handshakeMs,
    );
  }

  private originOf(session: http2.ServerHttp2Session, headers: http2.IncomingHttpHeaders): StreamOrigin {
    const st = this.state();
    const f = st.fronting;
    const address = session.socket?.remoteAddress;
    const viaUnix = address === undefined;
    const forwarded = String(headers["x-forwarded-for"] ?? "").split(",")[0]?.trim();
    const remote = forwarded || address || "unix";
    if (!f) return { remote, peer: { ok: false, reason: "fronting is not configured" } };
    if (!viaUnix && !f.trusted.has(address)) {
      return { remote: address ?? "?", peer: { ok: false, reason: `${f.clientCertHeader} is accepted only from trusted_proxies, and ${address} is not one` } };
    }
    const raw = headers[f.clientCertHeader];
    return { remote, peer: fronted(Array.isArray(raw) ? raw[0] : raw, st.caPem, st.isRevoked) };
  }

  async listen(address: ListenAddress): Promise<string> {
    this.boundText = await bindServer(this.endpoint.server, address, { setting: "fronting.address" });
    return this.boundText;
  }

  get bound(): string {
    return this.boundText;
  }

  stopAccepting(): void {
    this.endpoint.stopAccepting();
  }

  destroyAll(): void {
    this.endpoint.destroyAll();
  }
}

import * as net from "node:net";
import type * as tls from "node:tls";
import { peerNameMismatch } from "./peer-name";

/** The names a Flock client expects in the relay's certificate (fr-adm issues `flockrelay`). */
export const DEFAULT_RELAY_NAMES = ["flockrelay", "frelay"] as const;

/**
 * Verifies the relay's certificate by name, as Flock clients do: the certificate must chain to
 * the relay CA (TLS checks that) and name `relayName`, or by default `flockrelay` or `frelay`.
 * The RELAY host is not checked: an fr-adm relay certificate names only `flockrelay`, and a
 * relay is often reached by an address its certificate cannot list. Names match exactly, as
 * party names do (peer-name.ts): Node 22+'s checkServerIdentity would read a numeric RELAY_NAME
 * such as "7" as an IPv4 address and refuse every certificate for it.
 */
export function relayNameCheck(relayName: string | undefined): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  const names = relayName ? [relayName] : [...DEFAULT_RELAY_NAMES];
  return (_host, cert) => {
    if (names.some((n) => peerNameMismatch(n, cert) === undefined)) return undefined;
    const err = new Error(`the relay's certificate names none of ${names.join(", ")} (set RELAY_NAME or --relay-name to the name it carries)`);
    (err as NodeJS.ErrnoException).code = "ERR_TLS_CERT_ALTNAME_INVALID";
    return err;
  };
}

/**
 * SNI for the relay: the expected name when one is set; else the RELAY host when it is a name
 * (a TLS-passthrough front may route on it), else `flockrelay`, as a Flock client sends.
 */
export function relayServername(relayName: string | undefined, host: string): string {
  return relayName ?? (net.isIP(host) ? DEFAULT_RELAY_NAMES[0] : host);
}

import { it } from "node:test";
import * as assert from "node:assert/strict";
import type * as tls from "node:tls";
import { peerNameMismatch } from "../../../src/client/peer-name";

const cert = (san: string | undefined, cn: string) => ({ subjectaltname: san, subject: { CN: cn } }) as unknown as tls.PeerCertificate;

it("a one-label numeric party name (Flock's \"1\") matches its DNS SAN, on every Node line", () => {
  // Node 22+'s checkServerIdentity reads "1" as the IPv4 address 0.0.0.1 and refuses this.
  assert.equal(peerNameMismatch("1", cert("DNS:1", "1")), undefined);
  assert.equal(peerNameMismatch("1.user1", cert("DNS:1.user1", "1.user1")), undefined);
  assert.equal(peerNameMismatch("Hub.Flock", cert("DNS:hub.flock", "hub.flock")), undefined);
});

it("any other name is refused: SANs win over the CN, no wildcards, no IP entries", () => {
  assert.match(peerNameMismatch("2", cert("DNS:1", "2"))?.message ?? "", /names 1, not 2/);
  assert.match(peerNameMismatch("a.user1", cert("DNS:*.user1", "a.user1"))?.message ?? "", /not a\.user1/);
  assert.match(peerNameMismatch("1", cert("IP Address:0.0.0.1", "x"))?.message ?? "", /not 1/);
  assert.equal(peerNameMismatch("0", cert(undefined, "0")), undefined);
});

import { it } from "node:test";
import * as assert from "node:assert/strict";
import type * as tls from "node:tls";
import { relayNameCheck } from "../../../src/client/relay-name";

const cert = (san: string | undefined, cn: string) => ({ subjectaltname: san, subject: { CN: cn } }) as unknown as tls.PeerCertificate;

it("RELAY_NAME: a numeric name matches its DNS SAN on every Node line; the defaults are flockrelay and frelay", () => {
  // Node 22+'s checkServerIdentity reads "7" as the IPv4 address 0.0.0.7 and refused this.
  assert.equal(relayNameCheck("7")("127.0.0.1", cert("DNS:7", "7")), undefined);
  assert.equal(relayNameCheck(undefined)("127.0.0.1", cert("DNS:flockrelay", "flockrelay")), undefined);
  assert.equal(relayNameCheck(undefined)("127.0.0.1", cert("DNS:frelay", "frelay")), undefined);
  const refused = relayNameCheck(undefined)("127.0.0.1", cert("DNS:other", "other"));
  assert.equal((refused as NodeJS.ErrnoException).code, "ERR_TLS_CERT_ALTNAME_INVALID");
  assert.match(refused?.message ?? "", /names none of flockrelay, frelay \(set RELAY_NAME/);
  assert.ok(relayNameCheck("8")("127.0.0.1", cert("DNS:7", "7")));
});

import { it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildCrl, crlSerials, issueCertificate, serialOf } from "../../../src/pki/certs";
import { normalizeSerial } from "../../../src/transport/peer-identity";

it("a CRL built here is one OpenSSL verifies against the CA, and lists the revoked serials", () => {
  const ca = issueCertificate({ commonName: "test CA", usage: "ca", days: 2, bits: 2048 });
  const leaf = issueCertificate({ commonName: "0.user1", usage: "client", days: 2, bits: 2048, issuer: ca });
  const crl = buildCrl(ca, [{ serial: serialOf(leaf.certPem), date: new Date().toISOString() }]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-crl-"));
  try {
    fs.writeFileSync(path.join(dir, "ca.pem"), ca.certPem);
    fs.writeFileSync(path.join(dir, "crl.pem"), crl);
    fs.writeFileSync(path.join(dir, "leaf.pem"), leaf.certPem);
    const out = execFileSync("openssl", ["crl", "-in", path.join(dir, "crl.pem"), "-CAfile", path.join(dir, "ca.pem"), "-noout", "-text"], { stdio: ["ignore", "pipe", "pipe"] }).toString();
    assert.match(out, /Serial Number: /);
    const verify = (extra: string[]) => {
      try {
        return execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.pem"), ...extra, path.join(dir, "leaf.pem")], { stdio: ["ignore", "pipe", "pipe"] }).toString();
      } catch (err) {
        return String((err as { stdout?: Buffer }).stdout) + String((err as { stderr?: Buffer }).stderr);
      }
    };
    assert.match(verify([]), /OK/);
    assert.match(verify(["-crl_check", "-CRLfile", path.join(dir, "crl.pem")]), /certificate revoked/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual([...crlSerials(crl)], [normalizeSerial(serialOf(leaf.certPem))]);
  assert.equal(crlSerials(buildCrl(ca, [])).size, 0);
});

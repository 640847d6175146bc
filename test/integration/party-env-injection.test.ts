import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli";
import { partyEnv } from "../../src/pki/operations";

/**
 * party.env is sourced by a shell (`set -a; . ./party.env`): nothing written into it may run
 * as a command or set a variable it does not name. --relay is checked as host:port; every
 * value is single-quoted with embedded quotes escaped.
 */
describe("party.env: hostile values never run when the file is sourced", { timeout: 120_000 }, () => {
  let dir: string;
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  const pwned = () => path.join(dir, "pwned");
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-env-"));
    assert.equal((await cli("init")).code, 0);
    assert.equal((await cli("cert", "user", "user1")).code, 0);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Sources the file as the README says, in each shell there is, then prints what it exported. */
  function source(file: string, shell: string): string {
    return execFileSync(shell, ["-c", `cd "${dir}"; set -a; . "${file}"; printf '%s' "$RELAY"`], { encoding: "utf8" });
  }

  it("cert party --relay with a quote, a command or a newline is refused (exit 2) and writes nothing", async () => {
    const hostile = [`x';touch ${pwned()};'x:1`, `$(touch ${pwned()}):1`, "relay:6000\nRELAY_CA=evil", `\`touch ${pwned()}\`:6000`, "relay.example.com", "relay:99999"];
    for (const [i, value] of hostile.entries()) {
      const r = await cli("cert", "party", `h${i}`, "--user", "user1", "--relay", value);
      assert.equal(r.code, 2, `${JSON.stringify(value)}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /--relay .* is not host:port \(write e\.g\. relay\.example\.com:6000/);
      assert.equal(fs.existsSync(path.join(dir, "certs/parties", `h${i}.user1`, "party.env")), false);
      // If a file had been written, sourcing it must not have run anything either.
      assert.equal(fs.existsSync(pwned()), false);
    }
  });

  it("accepted forms: DNS name, IPv4 and bracketed IPv6 with a port", async () => {
    for (const [i, value] of ["relay.example.com:443", "10.0.0.5:6000", "[2001:db8::1]:6000"].entries()) {
      const r = await cli("cert", "party", `ok${i}`, "--user", "user1", "--relay", value);
      assert.equal(r.code, 0, r.stderr);
      const file = path.join(dir, "certs/parties", `ok${i}.user1`, "party.env");
      for (const shell of ["sh", "bash"]) assert.equal(source(file, shell), value, shell);
    }
  });

  it("any value, however hostile, is exported exactly and runs nothing (sh and bash)", () => {
    const values = {
      RELAY: `x';touch ${pwned()};'`,
      RELAY_CA: `$(touch ${pwned()}) \`touch ${pwned()}\` "; touch ${pwned()}; "`,
      RELAY_CERT: `line1\nRELAY=overwritten\n'\ntouch ${pwned()}\n'`,
      USER_CA: `\\'$HOME'\\''!*?[a]{b,c}~`,
    };
    const file = path.join(dir, "hostile.env");
    fs.writeFileSync(file, partyEnv(values));
    for (const shell of ["sh", "bash"]) {
      const out = execFileSync(shell, ["-c", `set -a; . "${file}"; printf '%s\\0' "$RELAY" "$RELAY_CA" "$RELAY_CERT" "$USER_CA"`], { encoding: "utf8" });
      assert.deepEqual(out.split("\0").slice(0, 4), Object.values(values), shell);
      assert.equal(fs.existsSync(pwned()), false, `${shell} ran a command from the file`);
    }
  });
});

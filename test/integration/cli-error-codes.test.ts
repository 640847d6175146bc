import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli";

/**
 * Every error the CLI reports is one line, the sentence first and its code last (docs/errors.md),
 * whoever found it: commander (an unknown command, a missing argument or option) or frelay.
 */
describe("CLI errors end with their code", { timeout: 60_000 }, () => {
  let dir: string;
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-cli-codes-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const firstLine = (stderr: string) => stderr.split("\n")[0] ?? "";

  for (const [what, args, pattern] of [
    ["an unknown command", ["frob"], /unknown command 'frob'/],
    ["a missing required option", ["cert", "party", "x"], /required option '--user <user>' not specified/],
    ["a missing argument", ["cert", "user"], /missing required argument 'user'/],
    ["an unknown option", ["status", "--nope"], /unknown option '--nope'/],
  ] as const) {
    it(`${what} is FRELAY_ERR_USAGE, exit 2, and still points at the help`, async () => {
      const r = await cli(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(firstLine(r.stderr), new RegExp(`^frelay: .*${pattern.source}.* \\[FRELAY_ERR_USAGE\\]$`));
      assert.match(r.stderr, /run frelay help <command> for usage/);
    });
  }

  it("help and version stay successes with no error line", async () => {
    for (const args of [["--help"], ["cert", "--help"], ["--version"]]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
    }
  });

  it("help walks nested commands, and names an unknown one with its code", async () => {
    const party = await cli("help", "cert", "party");
    assert.equal(party.code, 0, party.stderr);
    assert.match(party.stdout, /^Usage: frelay cert party \[options\] <party>/);
    const nope = await cli("help", "cert", "nope");
    assert.equal(nope.code, 2);
    assert.equal(firstLine(nope.stderr), 'frelay: unknown command "cert nope" (run frelay help cert) [FRELAY_ERR_USAGE]');
  });

  it("a missing config is FRELAY_ERR_CONFIG_MISSING for route ls as for check, not a JSON problem", async () => {
    for (const args of [["check"], ["route", "ls"], ["route", "add", "0.u", "1.u"]]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(firstLine(r.stderr), /^frelay: config file .*config\.json does not exist \(run "frelay init".*\) \[FRELAY_ERR_CONFIG_MISSING\]$/, `${args.join(" ")}: ${r.stderr}`);
    }
  });
});

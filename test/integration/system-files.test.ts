import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FRELAY_BIN, REPO_ROOT, suiteRelay } from "../helpers/cli";
import { requireTool } from "../helpers/require-tool";
import { fileMatches, holdsOpen } from "../helpers/eventually";

const UNIT = path.join(REPO_ROOT, "systemd", "frelay.service");

describe("systemd/frelay.service", () => {
  it("declares what docs/operations.md promises under systemd, and no MemoryDenyWriteExecute", () => {
    const unit = fs.readFileSync(UNIT, "utf8");
    for (const line of ["Type=forking", "PIDFile=/run/frelay/frelay.pid", "LimitNOFILE=65535", "Restart=on-failure", "User=frelay", "NoNewPrivileges=yes", "SystemCallFilter=@system-service @pkey"]) {
      assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`, "m"), line);
    }
    assert.match(unit, /^ExecReload=.*frelay reload$/m);
    assert.match(unit, /^ExecStop=.*frelay stop$/m);
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute/m);
  });

  it("passes systemd-analyze verify (with the Exec paths pointing at this checkout)", { skip: requireTool("systemd-analyze") }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-unit-"));
    try {
      const unit = path.join(dir, "frelay.service");
      fs.writeFileSync(unit, fs.readFileSync(UNIT, "utf8").replaceAll("/usr/local/bin/frelay", FRELAY_BIN));
      const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), "", "no warnings");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("contrib/install.sh is valid bash", () => {
    execFileSync("bash", ["-n", path.join(REPO_ROOT, "contrib", "install.sh")]);
  });
});

describe("contrib/logrotate/frelay", { skip: requireTool("logrotate") }, () => {
  it("rotates a running relay's log: SIGUSR1 from postrotate makes it write to the new file", async () => {
    const { fx, relay, close } = await suiteRelay();
    try {
      const log = path.join(fx.dir, "frelay.log");
      const conf = path.join(fx.dir, "logrotate.conf");
      await fileMatches(log, /\S/); // the file sink writes asynchronously
      fs.writeFileSync(
        conf,
        fs
          .readFileSync(path.join(REPO_ROOT, "contrib", "logrotate", "frelay"), "utf8")
          .replaceAll("/var/log/frelay/frelay.log", log)
          .replaceAll("/run/frelay/frelay.pid", path.join(fx.dir, "frelay.pid"))
          .replace(/create 0640 frelay frelay/, "create 0640")
          .replace(/^\s*delaycompress\n/m, "")
          .replace(/^\s*compress\n/m, ""),
      );
      const r = spawnSync("logrotate", ["-f", "-s", path.join(fx.dir, "logrotate.state"), conf], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(fs.existsSync(`${log}.1`), `rotated file: ${r.stdout}${r.stderr}`);
      // postrotate's SIGUSR1 has been sent; once the relay holds the new file, our SIGHUP follows.
      await holdsOpen(relay.proc.pid ?? 0, log);
      relay.proc.kill("SIGHUP");
      await relay.waitFor((e) => e["event"] === "reload");
      await fileMatches(log, /"event":"reload"/); // new lines go to the new file
      assert.doesNotMatch(fs.readFileSync(`${log}.1`, "utf8"), /"event":"reload"/);
    } finally {
      await close();
    }
  });
});

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { sha256 } from "../helpers/streams";
import { partyFiles } from "../../src/pki/layout";
import { PARTY_API_PROBE as PROBE, PYTHON, PYTHON_CLIENT_DIR as CLIENT_DIR, PYTHON_MUST_RUN as MUST_RUN, PYTHON_REQUIRED, SKIP_WITHOUT_PYTHON as SKIP, WANTED_PYTHON, pairProbeWithCli, probeReport, runPython } from "../helpers/python";

/**
 * A python3 that can build the package from pyproject.toml without a package index: pip, and
 * setuptools with bdist_wheel (built in from setuptools 70.1, else the wheel package). The one on
 * PATH first, else the system's (CI installs python3-pip, python3-setuptools, python3-wheel).
 * pyproject.toml asks for setuptools 61 or newer.
 */
const CAN_BUILD = "import setuptools, pip, sys\nif int(setuptools.__version__.split('.')[0]) < 61:\n    sys.exit(1)\ntry:\n    import wheel\nexcept ImportError:\n    from setuptools.command import bdist_wheel";
const PIP_PYTHON = [...(WANTED_PYTHON ? [WANTED_PYTHON] : []), "python3", "/usr/bin/python3"].find((py) => spawnSync(py, ["-c", CAN_BUILD]).status === 0);
const SKIP_PIP = PIP_PYTHON || MUST_RUN ? false : "no python3 with pip, setuptools and wheel";

/** A party's environment as `set -a; . party.env` gives it, PEM as text. */
function partyEnv(fx: Fixture, identity: string, dest: string, relay: string): NodeJS.ProcessEnv {
  const s = fx.party(identity, dest, relay);
  return { RELAY: relay, RELAY_CA: s.relayCa, RELAY_CERT: s.relayCert, RELAY_KEY: s.relayKey, USER_CA: s.userCa, PARTY_CERT: s.partyCert, PARTY_KEY: s.partyKey, DEST: dest };
}

/** The same settings as file paths (what `party.env` holds when pointing at the files). */
function partyEnvAsPaths(fx: Fixture, identity: string, dest: string, relay: string): NodeJS.ProcessEnv {
  const f = partyFiles(fx.certsDir, identity);
  const user = identity.slice(identity.indexOf(".") + 1);
  return { RELAY: relay, RELAY_CA: path.join(fx.certsDir, "relay-ca.pem"), RELAY_CERT: f.relayCert, RELAY_KEY: f.relayKey, USER_CA: path.join(fx.certsDir, "users", user, "ca.pem"), PARTY_CERT: f.partyCert, PARTY_KEY: f.partyKey, DEST: dest };
}

describe("the Python party library (clients/python)", { skip: SKIP }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => {
    assert.ok(PYTHON, PYTHON_REQUIRED);
    // Generous timeouts: on a loaded machine starting a peer process can take seconds, and a
    // 408 there would be a flake, not a finding (the 408 mapping is in the unit tests).
    ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "10s", pair: "30s", idle: "0s", drain: "2s" } }));
  });
  after(async () => {
    await close?.();
  });

  const waitingFrom = (identity: string) => {
    const mark = relay.events.length;
    return relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === identity && relay.events.indexOf(e) >= mark);
  };

  it("its own unit tests pass (python3 -m unittest, run here so CI runs them)", async (t) => {
    t.diagnostic(`interpreter: ${PYTHON} = ${spawnSync(PYTHON as string, ["--version"]).stdout.toString().trim()}`);
    const r = await runPython(["-m", "unittest", "discover", "-s", path.join(CLIENT_DIR, "tests"), "-t", CLIENT_DIR, "-v"], {}, "", 180000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^OK/m);
  });

  it("installs with pip from the repository, command included", { skip: SKIP_PIP }, async () => {
    assert.ok(PIP_PYTHON, "a python3 with pip, setuptools and wheel is required here (FRELAY_CI_NO_SKIP=1)");
    // A copy, so the in-tree build leaves nothing behind in the checkout.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-pip-"));
    try {
      fs.cpSync(CLIENT_DIR, path.join(tmp, "src"), { recursive: true, filter: (p) => !p.includes("__pycache__") });
      const target = path.join(tmp, "site");
      const pip = await runPython(["-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "--target", target, path.join(tmp, "src")], { PYTHONPATH: "" }, "", 180000, PIP_PYTHON);
      assert.equal(pip.code, 0, pip.stderr);
      const installed = await runPython(["-c", "import frelay_party, sys; print(frelay_party.__file__); print(frelay_party.__version__)"], { PYTHONPATH: target }, "", 30000, PIP_PYTHON);
      assert.equal(installed.code, 0, installed.stderr);
      const [file, version] = installed.stdout.toString().trim().split("\n");
      assert.ok(file?.startsWith(target), `imported ${file}, not the installed copy`);
      assert.match(version ?? "", /^\d+\.\d+\.\d+$/);
      const script = await runPython([path.join(target, "bin", "frelay-party"), "--help"], { PYTHONPATH: target }, "", 30000, PIP_PYTHON);
      assert.equal(script.code, 0, script.stderr);
      assert.match(script.stdout.toString(), /Pair with DEST through a frelay\/Flock relay/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  for (const pythonWaits of [true, false]) {
    it(`connect() ↔ frelay connect, bytes checked both ways, Python as ${pythonWaits ? "waiter (Mode 2, TLS client)" : "late arrival (Mode 1, TLS server)"}`, async () => {
      const fromPython = crypto.randomBytes(1024 * 1024 + 7);
      const fromNode = crypto.randomBytes(300_000 + 3);
      const pyEnv = pythonWaits ? partyEnv(fx, "0.user1", "1.user1", relay.address) : partyEnvAsPaths(fx, "0.user1", "1.user1", relay.address);
      const nodeEnv = partyEnv(fx, "1.user1", "0.user1", relay.address);
      const { report, cliStdout } = await pairProbeWithCli(relay, { pythonWaits, python: { identity: "0.user1", env: pyEnv, input: fromPython }, cli: { identity: "1.user1", env: nodeEnv, input: fromNode } });
      assert.equal(report["mode"], pythonWaits ? 2 : 1);
      assert.equal(report["peer"], "1.user1");
      assert.equal(report["received_sha256"], sha256(fromNode));
      assert.equal(sha256(cliStdout), sha256(fromPython));
    });
  }

  it("Python ↔ Python (python -m frelay_party waits, the API arrives), bytes checked both ways", async () => {
    const fromCli = crypto.randomBytes(2 * 1024 * 1024 + 1);
    const fromApi = crypto.randomBytes(123_457);
    const waited = waitingFrom("3.user1");
    const cli = runPython(["-m", "frelay_party", "-v"], partyEnv(fx, "3.user1", "2.user1", relay.address), fromCli);
    await waited;
    const api = runPython([PROBE], partyEnv(fx, "2.user1", "3.user1", relay.address), fromApi);
    const [c, a] = await Promise.all([cli, api]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(a.code, 0, `${a.stdout.toString()} ${a.stderr}`);
    assert.match(c.stderr, /paired with 2\.user1 \(mode 2, end-to-end TLS client\)/);
    assert.equal(sha256(c.stdout), sha256(fromApi));
    const report = probeReport(a);
    assert.equal(report["mode"], 1);
    assert.equal(report["received_sha256"], sha256(fromCli));
  });

  it("a refusal surfaces as a typed error with the relay's code and reason (403: no route)", async () => {
    const r = await runPython([PROBE], partyEnv(fx, "0.user1", "2.user1", relay.address));
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(probeReport(r), {
      error: "NoRoute",
      error_code: "FRELAY_ERR_REFUSED",
      refused: true,
      code: 403,
      reason: "no route between 0.user1 and 2.user1",
      message: "relay refused (403): no route between 0.user1 and 2.user1",
    });
    // The command line says it in one line, with no traceback.
    const cli = await runPython(["-m", "frelay_party"], partyEnv(fx, "0.user1", "2.user1", relay.address));
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr, "frelay_party: relay refused (403): no route between 0.user1 and 2.user1\n");
  });

  it("a relay certificate the relay does not trust: one line naming RELAY_CERT, no traceback", async () => {
    const stranger = makeFixture([["0", "user1"]], { fresh: true });
    try {
      const own = partyEnv(stranger, "0.user1", "1.user1", relay.address);
      const env = { ...partyEnv(fx, "0.user1", "1.user1", relay.address), RELAY_CERT: own["RELAY_CERT"], RELAY_KEY: own["RELAY_KEY"] };
      const r = await runPython(["-m", "frelay_party"], env);
      assert.equal(r.code, 1);
      // Refused by an alert or by a hang-up, depending on timing: either way one line naming RELAY_CERT.
      assert.match(r.stderr, /^frelay_party: [^\n]*relay 127\.0\.0\.1:\d+ [^\n]*RELAY_CERT[^\n]*\n$/);
    } finally {
      stranger.cleanup();
    }
  });

  it("a relay certificate without the expected name is refused (RELAY_NAME)", async () => {
    const r = await runPython([PROBE], { ...partyEnv(fx, "0.user1", "1.user1", relay.address), RELAY_NAME: "relay.example.org" });
    assert.equal(r.code, 1, r.stderr);
    const report = probeReport(r);
    assert.equal(report["error"], "RelayTLSError");
    assert.match(String(report["message"]), /names frelay, flockrelay, localhost, 127\.0\.0\.1.*not relay\.example\.org \(set RELAY_NAME/);
    // That no request left is checked in the unit tests (the stand-in relay records requests).
  });
});

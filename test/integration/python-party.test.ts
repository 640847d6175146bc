import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { REPO_ROOT, runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { sha256 } from "../helpers/streams";
import { partyFiles } from "../../src/pki/layout";
import { NO_SKIP } from "../helpers/require-tool";

/** python3 if it is 3.9 or newer (what clients/python supports). */
function findPython(): string | undefined {
  const r = spawnSync("python3", ["-c", "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"]);
  return r.status === 0 ? "python3" : undefined;
}
const PYTHON = findPython();
// Under FRELAY_CI_NO_SKIP=1 (CI) a missing python3 is a failure, not a skip: see before().
const MUST_RUN = NO_SKIP;
const SKIP = PYTHON || MUST_RUN ? false : "python3 (3.9 or newer) is not installed";

/**
 * A python3 that can build the package from pyproject.toml without a package index: pip, and
 * setuptools with bdist_wheel (built in from setuptools 70.1, else the wheel package). The one on
 * PATH first, else the system's (CI installs python3-pip, python3-setuptools, python3-wheel).
 */
const CAN_BUILD = "import setuptools, pip\ntry:\n    import wheel\nexcept ImportError:\n    from setuptools.command import bdist_wheel";
const PIP_PYTHON = ["python3", "/usr/bin/python3"].find((py) => spawnSync(py, ["-c", CAN_BUILD]).status === 0);
const SKIP_PIP = PIP_PYTHON || MUST_RUN ? false : "no python3 with pip, setuptools and wheel";

const CLIENT_DIR = path.join(REPO_ROOT, "clients", "python");
const PROBE = path.join(REPO_ROOT, "test", "interop", "party_api_probe.py");

interface PyResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs python3 with the library on its path; bounded. */
function runPython(args: string[], env: NodeJS.ProcessEnv, input: Buffer | string = "", timeoutMs = 60000, python = PYTHON as string): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONPATH: path.join(CLIENT_DIR, "src"), PYTHONDONTWRITEBYTECODE: "1", ...env },
    });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`python3 ${args.join(" ")} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on("error", () => undefined); // a party that exits early (refused) reads no input: its exit code says why
    child.stdin.end(input);
  });
}

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

function probeReport(r: PyResult): Record<string, unknown> {
  const line = r.stdout.toString().trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`probe printed no report (exit ${r.code}): ${r.stdout.toString()} ${r.stderr}`);
  }
}

describe("the Python party library (clients/python)", { skip: SKIP }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => {
    assert.ok(PYTHON, "python3 (3.9 or newer) is required here (FRELAY_CI_NO_SKIP=1)");
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

  it("its own unit tests pass (python3 -m unittest, run here so CI runs them)", async () => {
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
      let py: Promise<PyResult>;
      let node: ReturnType<typeof runCli>;
      if (pythonWaits) {
        const waited = waitingFrom("0.user1");
        py = runPython([PROBE], pyEnv, fromPython);
        await waited;
        node = runCli(["connect"], { env: nodeEnv, input: fromNode });
      } else {
        const waited = waitingFrom("1.user1");
        node = runCli(["connect"], { env: nodeEnv, input: fromNode });
        await waited;
        py = runPython([PROBE], pyEnv, fromPython);
      }
      const [p, n] = await Promise.all([py, node]);
      assert.equal(p.code, 0, `${p.stdout.toString()} ${p.stderr}`);
      assert.equal(n.code, 0, n.stderr);
      const report = probeReport(p);
      assert.equal(report["mode"], pythonWaits ? 2 : 1);
      assert.equal(report["peer"], "1.user1");
      assert.equal(report["received_sha256"], sha256(fromNode));
      assert.equal(sha256(n.stdoutBytes), sha256(fromPython));
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

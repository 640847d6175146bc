/**
 * The repository's Python party (clients/python) in tests: which interpreter runs it, running
 * it bounded, and pairing its API probe with a `frelay connect` party through a real relay.
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT, runCli, type CliResult, type RunningRelay } from "./cli";
import { NO_SKIP } from "./require-tool";

/**
 * The Python that runs the repository's Python party (clients/python) in tests: FRELAY_PYTHON
 * (e.g. a python3.9, the oldest supported) or python3, if it is 3.9 or newer. A FRELAY_PYTHON
 * that is missing or older fails the suites rather than silently testing another interpreter.
 */
export const WANTED_PYTHON = process.env["FRELAY_PYTHON"] || undefined;

function findPython(): string | undefined {
  const py = WANTED_PYTHON ?? "python3";
  const r = spawnSync(py, ["-c", "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"]);
  return r.status === 0 ? py : undefined;
}

export const PYTHON = findPython();
/** Under FRELAY_CI_NO_SKIP=1 (CI), or when FRELAY_PYTHON names one, a missing python fails. */
export const PYTHON_MUST_RUN = NO_SKIP || WANTED_PYTHON !== undefined;
/** The `skip` option for suites that need it: false, or the reason. */
export const SKIP_WITHOUT_PYTHON = PYTHON || PYTHON_MUST_RUN ? false : "python3 (3.9 or newer) is not installed";
/** For the suite's before(): fails, naming the interpreter, where it may not skip. */
export const PYTHON_REQUIRED = `${WANTED_PYTHON ?? "python3"} (3.9 or newer) is required here (FRELAY_PYTHON or FRELAY_CI_NO_SKIP=1)`;

export const PYTHON_CLIENT_DIR = path.join(REPO_ROOT, "clients", "python");
/** Drives frelay_party.connect() from the environment and prints one JSON report line. */
export const PARTY_API_PROBE = path.join(REPO_ROOT, "test", "interop", "party_api_probe.py");

export interface PyResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs Python with the library on its path; bounded. */
export function runPython(args: string[], env: NodeJS.ProcessEnv, input: Buffer | string = "", timeoutMs = 60000, python = PYTHON as string): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONPATH: path.join(PYTHON_CLIENT_DIR, "src"), PYTHONDONTWRITEBYTECODE: "1", ...env },
    });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${python} ${args.join(" ")} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on("error", () => undefined); // a party that exits early (refused) reads no input: its exit code says why
    child.stdin.end(input);
  });
}

/** The probe's JSON report (its last stdout line). */
export function probeReport(r: PyResult): Record<string, unknown> {
  const line = r.stdout.toString().trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`probe printed no report (exit ${r.code}): ${r.stdout.toString()} ${r.stderr}`);
  }
}

/**
 * The probe (Python API) and `frelay connect` pair through `relay`, in the order asked: the
 * waiter first, the other once the relay has logged it waiting. Both must exit 0; returns the
 * probe's report and what the CLI party wrote to stdout.
 */
export async function pairProbeWithCli(
  relay: RunningRelay,
  o: { pythonWaits: boolean; python: { identity: string; env: NodeJS.ProcessEnv; input: Buffer }; cli: { identity: string; env: NodeJS.ProcessEnv; input: Buffer } },
): Promise<{ report: Record<string, unknown>; cliStdout: Buffer }> {
  const mark = relay.events.length;
  const waiting = (identity: string) => relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === identity && relay.events.indexOf(e) >= mark);
  const startPython = () => runPython([PARTY_API_PROBE], o.python.env, o.python.input);
  const startCli = () => runCli(["connect"], { env: o.cli.env, input: o.cli.input, timeoutMs: 60_000 });
  const [first, second] = o.pythonWaits ? [startPython, startCli] : [startCli, startPython];
  const waited = waiting(o.pythonWaits ? o.python.identity : o.cli.identity);
  const a = first();
  await waited;
  const b = second();
  const [p, c] = o.pythonWaits ? [await a, await b] : [await b, await a];
  const py = p as PyResult;
  const cli = c as CliResult;
  assert.equal(py.code, 0, `${py.stdout.toString()} ${py.stderr}`);
  assert.equal(cli.code, 0, cli.stderr);
  return { report: probeReport(py), cliStdout: cli.stdoutBytes };
}

/**
 * `npm test`'s runner: lists the compiled test files itself and hands them to `node --test` by
 * name. Node 22 and 24's `node --test` take files or globs but not a bare directory (20 and 26
 * do), and a shell glob's `**` depends on the shell: naming the files works the same on every line.
 *
 *   node dist/test/helpers/run-suite.js [dir-or-file ...] [--any-node-test-flag ...]
 *
 * Paths narrow the run (a folder means every *.test.js under it); flags go to `node --test` as
 * they are. FRELAY_TEST_CONCURRENCY and FRELAY_TEST_TIMEOUT (ms per test) override the defaults.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FIXTURE_CACHE_ENV } from "./fixture";

const TEST_ROOT = path.resolve(__dirname, "..");

/** Every `*.test.js` under `dir`, sorted so that runs are reproducible. */
export function listTestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith(".test.js")) out.push(full);
  }
  return out.sort();
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw} is not a positive integer`);
  return n;
}

/**
 * Files that take longest (each 15-45 s on CI's machine) start first, so the run does not end
 * with one of them running alone on an otherwise idle machine; the rest keep their sorted order.
 */
const LONGEST_FIRST = ["fuzz", "cluster-cross-node", "h2-bounds", "faults", "python-party", "crl-out-of-date", "operations", "cluster-config", "cluster-failures"];

function longestFirst(files: string[]): string[] {
  const rank = (f: string) => {
    const i = LONGEST_FIRST.indexOf(path.basename(f, ".test.js"));
    return i === -1 ? LONGEST_FIRST.length : i;
  };
  return files.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map((x) => x.f);
}

function selectFiles(args: string[]): string[] {
  if (args.length === 0) return longestFirst(listTestFiles(TEST_ROOT));
  const files: string[] = [];
  for (const arg of args) {
    // A source path (test/unit/x.test.ts) means its compiled twin, so either spelling works.
    const compiled = path.resolve(arg.replace(/^(\.\/)?test\//, "dist/test/").replace(/\.ts$/, ".js"));
    const target = fs.existsSync(compiled) ? compiled : path.resolve(arg);
    if (!fs.existsSync(target)) throw new Error(`${arg}: no such test file or folder (run "npm run build" first?)`);
    files.push(...(fs.statSync(target).isDirectory() ? listTestFiles(target) : [target]));
  }
  return files;
}

function main(argv: string[]): void {
  const flags = argv.filter((a) => a.startsWith("--"));
  const files = selectFiles(argv.filter((a) => !a.startsWith("--")));
  if (files.length === 0) throw new Error(`no *.test.js files under ${TEST_ROOT} (run "npm run build" first)`);
  // Two files at a time: more shortens a run on a quiet machine, but the integration tests'
  // short relay timeouts (pair 3 s) then start failing on a busy one.
  const concurrency = positiveInt("FRELAY_TEST_CONCURRENCY", 2);
  // A hang fails with a name instead of eating CI's time. On Node 24+ --test-timeout bounds each
  // test; on 20 and 22 it also bounds each whole file (a file is a test of the run there), so
  // it must leave room for the longest file on a loaded machine.
  const perTestOnly = Number(process.versions.node.split(".")[0]) >= 24;
  const timeout = positiveInt("FRELAY_TEST_TIMEOUT", perTestOnly ? 120_000 : 600_000);
  // One summary format on every line when the output goes to a file or a CI log: Node 20 and 22
  // write TAP there, 24 and 26 their human "spec" report. TAP everywhere keeps the `# pass` /
  // `# fail` summary the same for whatever reads it; a terminal keeps Node's own choice.
  const reporter = !process.stdout.isTTY && !flags.some((f) => f.startsWith("--test-reporter")) ? ["--test-reporter=tap"] : [];
  const args = ["--test", `--test-concurrency=${concurrency}`, `--test-timeout=${timeout}`, ...reporter, ...flags, ...files.map((f) => path.relative(process.cwd(), f))];
  process.stdout.write(`# node ${process.version}: ${files.length} test files, concurrency ${concurrency}, timeout ${timeout} ms per ${perTestOnly ? "test" : "test and per file"}\n`);
  // One PKI per kind of fixture for the whole run (see test/helpers/fixture.ts), removed after.
  const fixtureCache = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-fixture-cache-"));
  const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, [FIXTURE_CACHE_ENV]: fixtureCache } });
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => {
    fs.rmSync(fixtureCache, { recursive: true, force: true });
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`run-suite: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}

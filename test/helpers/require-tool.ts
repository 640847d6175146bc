import { spawnSync } from "node:child_process";
import { it, type TestContext } from "node:test";

/**
 * Tests that drive a real outside tool (nginx, ss, redis-server, ...) skip with a visible reason
 * where it is not installed. In CI (`FRELAY_CI_NO_SKIP=1`, set by .ci/run) nothing may skip
 * silently: a missing tool is a failing test that names it.
 */
export const NO_SKIP = process.env["FRELAY_CI_NO_SKIP"] === "1";

const found = new Map<string, boolean>();

/** Whether `binary` is on PATH (looked up once per process). */
export function hasTool(binary: string): boolean {
  let ok = found.get(binary);
  if (ok === undefined) {
    ok = spawnSync("sh", ["-c", 'command -v "$1"', "sh", binary], { stdio: "ignore" }).status === 0;
    found.set(binary, ok);
  }
  return ok;
}

function reasonFor(missing: string[]): string {
  return `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not installed (.ci/run installs ${missing.length === 1 ? "it" : "them"})`;
}

/**
 * The `skip` option for a `describe`/`it` that needs `binaries`: `false` when all are there,
 * else the reason. Under FRELAY_CI_NO_SKIP=1 a missing tool also registers, where the call is
 * made, a test that fails with that reason, so the run goes red with a name.
 *
 *   describe("nginx front", { skip: requireTool("nginx") }, () => { ... })
 */
export function requireTool(...binaries: string[]): string | false {
  const missing = binaries.filter((b) => !hasTool(b));
  if (missing.length === 0) return false;
  const reason = reasonFor(missing);
  if (NO_SKIP) {
    it(`requires ${missing.join(", ")}`, () => {
      throw new Error(`${reason}; FRELAY_CI_NO_SKIP=1 forbids skipping`);
    });
  }
  return reason;
}

/**
 * For a check inside a running test: true when `binary` is there; otherwise marks the test
 * skipped with the reason and returns false (`if (!toolOrSkip(t, "ss")) return;`), or under
 * FRELAY_CI_NO_SKIP=1 throws so the test fails.
 */
export function toolOrSkip(t: TestContext, binary: string): boolean {
  if (hasTool(binary)) return true;
  const reason = reasonFor([binary]);
  if (NO_SKIP) throw new Error(`${reason}; FRELAY_CI_NO_SKIP=1 forbids skipping`);
  t.skip(reason);
  return false;
}

/**
 * For one check inside a test that has others worth running without the tool: true when
 * `binary` is there; otherwise notes in the test's output that the check is left out and
 * returns false, or under FRELAY_CI_NO_SKIP=1 throws so the test fails.
 */
export function toolForCheck(t: TestContext, binary: string): boolean {
  if (hasTool(binary)) return true;
  const reason = reasonFor([binary]);
  if (NO_SKIP) throw new Error(`${reason}; FRELAY_CI_NO_SKIP=1 forbids skipping`);
  t.diagnostic(`${reason}: the check that needs it is left out`);
  return false;
}

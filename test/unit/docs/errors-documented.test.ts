import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as errors from "../../../src/errors";
import { RefusalCode } from "../../../src/relay/party";
import { REPO_ROOT } from "../../helpers/cli";

const ERRORS_MD = path.join(REPO_ROOT, "docs", "errors.md");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Every code named anywhere in src/ (thrown, typed, or passed on), with where it is used. */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(path.join(REPO_ROOT, "src"))) {
    for (const m of fs.readFileSync(file, "utf8").matchAll(/FRELAY_ERR_[A-Z0-9_]+/g)) {
      if (!found.has(m[0])) found.set(m[0], path.relative(REPO_ROOT, file));
    }
  }
  return found;
}

function documentedCodes(): Set<string> {
  const text = fs.readFileSync(ERRORS_MD, "utf8");
  return new Set([...text.matchAll(/^### (FRELAY_ERR_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1] as string));
}

test("every error code used in src/ has its own section in docs/errors.md", { timeout: 30_000 }, () => {
  const documented = documentedCodes();
  const missing = [...codesInSource()].filter(([code]) => !documented.has(code)).map(([code, file]) => `${code} (used in ${file})`);
  assert.deepEqual(missing, [], `add a "### <code>" section with its meaning and fix to docs/errors.md for: ${missing.join(", ")}`);
});

test("docs/errors.md documents no code that src/ no longer has", { timeout: 30_000 }, () => {
  const used = codesInSource();
  const stale = [...documentedCodes()].filter((code) => !used.has(code));
  assert.deepEqual(stale, [], `remove these sections from docs/errors.md (no code uses them): ${stale.join(", ")}`);
});

test("every refusal status the relay sends is in docs/errors.md's table", { timeout: 30_000 }, () => {
  const text = fs.readFileSync(ERRORS_MD, "utf8");
  for (const status of Object.values(RefusalCode)) {
    assert.match(text, new RegExp(`^\\| ${status} \\|`, "m"), `docs/errors.md has no row for refusal status ${status}`);
  }
});

test("every error class the library exports is a FrelayError and is named in docs/errors.md", { timeout: 30_000 }, () => {
  const text = fs.readFileSync(ERRORS_MD, "utf8");
  const classes = Object.entries(errors).filter(([, v]) => typeof v === "function" && /^[A-Z]/.test(v.name));
  assert.ok(classes.length > 1, "src/errors.ts exports its classes");
  for (const [name, cls] of classes) {
    assert.ok(cls === errors.FrelayError || (cls as { prototype: unknown }).prototype instanceof errors.FrelayError, `${name} does not extend FrelayError`);
    assert.match(text, new RegExp(`\\b${name}\\b`), `docs/errors.md does not name the class ${name}`);
  }
});

// A thrown error says its area by its class (UsageError, PkiError, ...). The bare base class is
// built only where a code arrives from the daemon over IPC or the control socket and is passed on.
const PASSES_ON_DAEMON_CODES = new Set(["src/cli/daemon-commands.ts", "src/cli/route-commands.ts"]);

test("src/ throws the FrelayError subclass of each area, never the bare base class", { timeout: 30_000 }, () => {
  const bare = sourceFiles(path.join(REPO_ROOT, "src"))
    .map((file) => path.relative(REPO_ROOT, file))
    .filter((rel) => !PASSES_ON_DAEMON_CODES.has(rel) && fs.readFileSync(path.join(REPO_ROOT, rel), "utf8").includes("new FrelayError("));
  assert.deepEqual(bare, [], `use the subclass for the area (UsageError, ConfigError, FileError, PkiError, DaemonError, ClientError) in: ${bare.join(", ")}`);
});

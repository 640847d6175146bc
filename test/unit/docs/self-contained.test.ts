import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../helpers/cli";

/**
 * A clone of the repository alone must explain frelay: no file may send its reader to documents
 * that live outside it (the contract and house-style pages the project was first written
 * against), nor cite their section numbers. The repository's own words are in docs/.
 */

const SKIP_DIRS = new Set([".git", "node_modules", "dist", "build", "certs"]);
const BINARY = /\.(png|jpe?g|gif|ico|pem|key|crl|der|node|gz|tgz)$/;

/** The repository's files, relative to its root: what git tracks, else a walk without build output. */
function repositoryFiles(): string[] {
  try {
    const out = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 10_000 });
    const files = out.split("\0").filter(Boolean);
    if (files.length > 0) return files.filter((f) => fs.existsSync(path.join(REPO_ROOT, f)));
  } catch {
    // not a git checkout (an unpacked tarball): walk instead
  }
  const walk = (dir: string): string[] =>
    fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) return SKIP_DIRS.has(e.name) ? [] : walk(rel);
      return e.isFile() ? [rel] : [];
    });
  return walk("");
}

function textFiles(): string[] {
  return repositoryFiles().filter((f) => !BINARY.test(f) && path.basename(f) !== "package-lock.json");
}

// Built from pieces so that this file does not match itself.
const OUTSIDE = [
  { what: "a path to the shared folder", re: new RegExp(["\\.\\.", "shared"].join("/")) },
  { what: "the contract page", re: new RegExp(`\\b${"SPEC"}\\.md\\b`) },
  { what: "the house-style page", re: new RegExp(`\\b${"ARCHITECTURE"}\\.md\\b`) },
  { what: "a contract section number", re: new RegExp(`\\b${"SPEC"}\\s*§?\\s*\\d`) },
];

test("no file of the repository points at documents outside it", { timeout: 30_000 }, () => {
  const files = textFiles();
  assert.ok(files.some((f) => f === "README.md"), "the repository's files were listed");
  const found: string[] = [];
  for (const file of files) {
    const lines = fs.readFileSync(path.join(REPO_ROOT, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      for (const { what, re } of OUTSIDE) if (re.test(line)) found.push(`${file}:${i + 1} (${what})`);
    });
  }
  assert.deepEqual(found, [], `say it in the repository's own words (docs/) instead: ${found.join(", ")}`);
});

test("every relative link in the Markdown files leads to a file of the repository", { timeout: 30_000 }, () => {
  const broken: string[] = [];
  for (const file of textFiles().filter((f) => f.endsWith(".md"))) {
    const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (m[1] as string).split("#")[0] as string;
      if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // same-page anchor, or a URL
      const resolved = path.resolve(REPO_ROOT, path.dirname(file), target);
      const inside = !path.relative(REPO_ROOT, resolved).startsWith("..");
      if (!inside || !fs.existsSync(resolved)) broken.push(`${file}: ${m[1] as string}${inside ? "" : " (outside the repository)"}`);
    }
  }
  assert.deepEqual(broken, [], `fix or remove these links: ${broken.join(", ")}`);
});

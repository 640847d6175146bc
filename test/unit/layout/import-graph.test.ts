import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../helpers/cli";

const SRC = path.join(REPO_ROOT, "src");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Each file of src/ (relative to src/) with the files of src/ it imports, type-only imports included. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const deps: string[] = [];
    for (const m of fs.readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = path.resolve(path.dirname(file), m[1] as string);
      for (const candidate of [`${target}.ts`, path.join(target, "index.ts")]) {
        if (fs.existsSync(candidate)) deps.push(path.relative(SRC, candidate));
      }
    }
    graph.set(path.relative(SRC, file), deps);
  }
  return graph;
}

test("the import graph of src/ has no circle", { timeout: 30_000 }, () => {
  const graph = importGraph();
  assert.ok(graph.size > 20, "src/ was read");
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const circles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === "open") circles.push([...stack.slice(stack.indexOf(dep)), dep].join(" -> "));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(circles, [], `move what both sides share into a file of its own: ${circles.join("; ")}`);
});

/**
 * Dependencies point one way: cli → daemon → transport → relay → datapath, with config, pki and
 * log as leaves. Each folder here lists the folders of src/ it must never import.
 */
const NEVER_IMPORTS: Record<string, readonly string[]> = {
  daemon: ["cli", "client"],
  transport: ["cli", "daemon", "client"],
  relay: ["cli", "daemon", "transport", "client"],
  datapath: ["cli", "daemon", "transport", "relay", "client"],
  config: ["cli", "daemon", "transport", "relay", "datapath", "client"],
  pki: ["cli", "daemon", "transport", "relay", "datapath", "client"],
  log: ["cli", "daemon", "transport", "relay", "datapath", "client"],
};

test("no folder of src/ imports a layer above it", { timeout: 30_000 }, () => {
  const folderOf = (file: string) => file.split(path.sep)[0] as string;
  const upward: string[] = [];
  for (const [file, deps] of importGraph()) {
    const forbidden = NEVER_IMPORTS[folderOf(file)] ?? [];
    for (const dep of deps) if (forbidden.includes(folderOf(dep))) upward.push(`${file} imports ${dep}`);
  }
  assert.deepEqual(upward, [], `an upward import (give the lower layer an interface, or move the code down): ${upward.join("; ")}`);
});

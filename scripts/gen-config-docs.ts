/**
 * Writes docs/configuration.md from the config schema (src/config/schema.ts) and its defaults
 * (DEFAULTS in src/config/load.ts), so the reference cannot drift from what the relay accepts.
 * `npm run docs` runs it; test/unit/docs/configuration-docs.test.ts fails when the file is stale.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULTS } from "../src/config/load";
import { DURATION_PATTERN } from "../src/config/duration";
import { configSchema, DERIVED_DEFAULT_KEYWORD, RELOAD_KEYWORD, type ReloadEffect } from "../src/config/schema";

interface SchemaNode {
  type?: string;
  enum?: readonly unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  default?: unknown;
  description?: string;
  required?: readonly string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  [RELOAD_KEYWORD]?: ReloadEffect;
  [DERIVED_DEFAULT_KEYWORD]?: string;
}

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const CONFIG_DOCS = path.join(REPO_ROOT, "docs", "configuration.md");

const RELOAD_TEXT: Record<ReloadEffect, string> = {
  live: "at once",
  new: "to what starts after",
  rebind: "rebinds",
  restart: "restart needed",
};

/** One row per key, parents before children; `$schema` is an editor aid, not a setting. */
function rows(node: SchemaNode, prefix: string, required: readonly string[], out: string[][], problems: string[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (key === "$schema") continue;
    const name = prefix ? `${prefix}.${key}` : key;
    if (!child.description) problems.push(`${name} has no description`);
    const isSection = child.type === "object";
    if (!isSection && !child[RELOAD_KEYWORD]) problems.push(`${name} has no ${RELOAD_KEYWORD}`);
    out.push([
      `\`${name}\``,
      typeOf(child),
      required.includes(key) ? "required" : isSection ? "" : defaultOf(name, child),
      isSection ? "" : RELOAD_TEXT[child[RELOAD_KEYWORD] ?? "restart"],
      cell(child.description ?? ""),
    ]);
    if (isSection) rows(child, name, child.required ?? [], out, problems);
  }
}

function typeOf(n: SchemaNode): string {
  if (n.enum) return n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  if (n.type === "string" && n.pattern === DURATION_PATTERN) return "duration";
  if (n.type === "integer") return `integer ${n.minimum ?? ""}–${n.maximum ?? ""}`;
  if (n.type === "array") return n.items?.type === "object" ? "array of objects" : `array of ${n.items?.type ?? "values"}s`;
  if (n.type === "object") return "object";
  return n.type ?? "any";
}

/** The default from the schema's `default`, or its derived one (`x-default`), else from DEFAULTS at the same path. */
function defaultOf(name: string, n: SchemaNode): string {
  if (n.default !== undefined) return `\`${JSON.stringify(n.default)}\``;
  const derived = n[DERIVED_DEFAULT_KEYWORD];
  if (derived !== undefined) return `\`${derived}\``;
  let v: unknown = DEFAULTS;
  for (const part of name.split(".")) v = v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  if (v === undefined || (typeof v === "object" && !Array.isArray(v))) return "none";
  return `\`${JSON.stringify(v)}\``;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The whole page; throws if a key lacks its description or reload annotation. */
export function renderConfigDocs(): string {
  const out: string[][] = [];
  const problems: string[] = [];
  const schema = configSchema as unknown as SchemaNode;
  rows(schema, "", schema.required ?? [], out, problems);
  if (problems.length > 0) {
    throw new Error(`src/config/schema.ts: ${problems.join("; ")} (every key needs "description" and "${RELOAD_KEYWORD}")`);
  }
  const example = fs.readFileSync(path.join(REPO_ROOT, "config.example.json"), "utf8").trimEnd();
  return `<!-- Generated from src/config/schema.ts by \`npm run docs\`: edit the schema, not this file. -->
# Configuration

frelay reads one JSON file, \`config.json\`: the path given with \`-c\`, else \`$FRELAY_CONFIG\`,
else \`./config.json\`. It is checked against a JSON Schema that rejects unknown keys; every
problem is reported at once with its JSON path and, where it can be found, its line
(\`frelay check\` prints them without touching a running relay). Relative paths are relative to
the config file's folder. Durations are strings with a unit: \`"500ms"\`, \`"30s"\`, \`"5m"\`, \`"1h"\`.

Only \`address\`, \`tls.ca\`, \`tls.cert\`, \`tls.key\` and \`routes\` are required. The
\`fronting\` and \`metrics\` sections are off until they are written; a key marked *none* has no
default and is off when absent.

**On reload** (SIGHUP, \`frelay reload\`, or a change to config.json or a file it names) the new
file is checked and loaded whole before anything changes; if it fails, the old config stays in
force entirely. The *reload* column says what happens to a changed value:

- **at once**: applies immediately, also to parties already waiting and sessions already open;
- **to what starts after**: new connections, requests and sessions use it, open ones keep theirs;
- **rebinds**: the new listener is bound before the old one stops accepting; a failure to bind
  keeps the old config;
- **restart needed**: read only at start (\`frelay stop\` and \`frelay start\`).

See [operations.md](operations.md#reload) for what a reload does in full.

## Keys

| key | type | default | reload | meaning |
|---|---|---|---|---|
${out.map((r) => `| ${r.join(" | ")} |`).join("\n")}

## Example

\`config.example.json\`, which \`frelay init\` copies:

\`\`\`json
${example}
\`\`\`
`;
}

if (require.main === module) {
  fs.mkdirSync(path.dirname(CONFIG_DOCS), { recursive: true });
  fs.writeFileSync(CONFIG_DOCS, renderConfigDocs());
  process.stdout.write(`wrote ${path.relative(process.cwd(), CONFIG_DOCS)}\n`);
}

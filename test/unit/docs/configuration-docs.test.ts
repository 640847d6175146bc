import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { CONFIG_DOCS, renderConfigDocs } from "../../../scripts/gen-config-docs";
import * as path from "node:path";
import { configSchema } from "../../../src/config/schema";
import { nodeCertFiles } from "../../../src/pki/layout";

test("docs/configuration.md is what `npm run docs` makes from the schema", { timeout: 30_000 }, () => {
  const current = fs.existsSync(CONFIG_DOCS) ? fs.readFileSync(CONFIG_DOCS, "utf8") : "";
  // renderConfigDocs also throws when a key lacks its description or x-reload.
  assert.ok(current === renderConfigDocs(), "docs/configuration.md is stale: run `npm run docs` and commit the result");
});

test("every top-level config key has a row in docs/configuration.md", { timeout: 30_000 }, () => {
  const text = fs.readFileSync(CONFIG_DOCS, "utf8");
  for (const key of Object.keys(configSchema.properties).filter((k) => k !== "$schema")) {
    assert.match(text, new RegExp(`^\\| \`${key}\` \\|`, "m"), `no row for ${key}`);
  }
});

test("the documented default of cluster.cert and cluster.key is the path the loader uses", () => {
  const { cert, key } = configSchema.properties.cluster.properties;
  const used = nodeCertFiles("certs", "<node>");
  assert.equal(cert["x-default"], path.posix.normalize(used.cert));
  assert.equal(key["x-default"], path.posix.normalize(used.key));
});

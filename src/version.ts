import * as fs from "node:fs";
import * as path from "node:path";

/** The package version, read once from package.json (dist/src/ → ../../package.json). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
})();

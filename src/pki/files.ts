import * as fs from "node:fs";
import * as path from "node:path";
import { FileError } from "../errors";

/**
 * Writes a file that must not already exist (unless `force`), creating it with its final mode
 * from the start: a key is never readable by others, not even for an instant.
 */
export function writeNewFile(file: string, data: string, mode: number, force: boolean): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  if (force) {
    // Write beside it and rename over it, so the old file is replaced whole and the new one
    // never exists with wider permissions.
    const tmp = `${file}.frelay-tmp-${process.pid}`;
    fs.writeFileSync(tmp, data, { mode, flag: "wx" });
    fs.renameSync(tmp, file);
    return;
  }
  try {
    fs.writeFileSync(file, data, { mode, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new FileError("FRELAY_ERR_EXISTS", `${file} already exists (use --force to replace it)`);
    }
    throw err;
  }
}

/** Atomic replace of a file that may exist: temp file in the same folder, then rename. */
export function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.frelay-tmp-${process.pid}-${path.basename(file)}`);
  fs.writeFileSync(tmp, data, { mode, flag: "w" });
  fs.renameSync(tmp, file);
}

export function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable (check its permissions)" : `cannot be read (${code})`;
    throw new FileError("FRELAY_ERR_FILE", `${what}: ${file} ${why}`, { cause: err });
  }
}

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;

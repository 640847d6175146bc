import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigWatcher } from "../../../src/daemon/watch";
import { silentLogger } from "../../../src/log/logger";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A folder with config.json and a log file beside it, and a watcher on config.json. */
function setup(files: (dir: string) => string[] = (d) => [path.join(d, "config.json")]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-watch-"));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, "config.json"), "{}\n");
  let calls = 0;
  let waiter: (() => void) | undefined;
  const watcher = new ConfigWatcher(() => files(dir), () => {
    calls++;
    waiter?.();
  }, silentLogger);
  const reloaded = (timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no reload requested")), timeoutMs);
      waiter = () => {
        clearTimeout(timer);
        waiter = undefined;
        resolve();
      };
    });
  return { dir, watcher, reloaded, calls: () => calls };
}

describe("config watcher: the files that matter, not their neighbours", { timeout: 60_000 }, () => {
  it("a save by rename (temp file + rename) asks for one reload", async () => {
    const { dir, watcher, reloaded, calls } = setup();
    const seen = reloaded();
    fs.writeFileSync(path.join(dir, ".config.json.tmp"), '{"a":1}\n');
    fs.renameSync(path.join(dir, ".config.json.tmp"), path.join(dir, "config.json"));
    await seen;
    assert.equal(calls(), 1);
    await watcher.close();
  });

  it("delete and re-create is seen", async () => {
    const { dir, watcher, reloaded } = setup();
    const seen = reloaded();
    fs.rmSync(path.join(dir, "config.json"));
    fs.writeFileSync(path.join(dir, "config.json"), '{"b":2}\n');
    await seen;
    await watcher.close();
  });

  it("a symbolic link swapped to a new target (how Kubernetes updates a mounted ConfigMap) is seen", async () => {
    const { dir, watcher } = setup();
    // The layout a ConfigMap mount has: ..data → v1/, config.json → ..data/config.json.
    await watcher.close();
    fs.rmSync(path.join(dir, "config.json"));
    for (const v of ["v1", "v2"]) {
      fs.mkdirSync(path.join(dir, v));
      fs.writeFileSync(path.join(dir, v, "config.json"), `{"v":"${v}"}\n`);
    }
    fs.symlinkSync("v1", path.join(dir, "..data"));
    fs.symlinkSync(path.join("..data", "config.json"), path.join(dir, "config.json"));
    let resolveSeen!: () => void;
    const seen = new Promise<void>((r) => (resolveSeen = r));
    const linked = new ConfigWatcher(() => [path.join(dir, "config.json")], () => resolveSeen(), silentLogger);
    fs.symlinkSync("v2", path.join(dir, "..data_tmp"));
    fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    fs.rmSync(path.join(dir, "v1"), { recursive: true });
    const timer = setTimeout(() => assert.fail("link swap not seen"), 10_000);
    await seen;
    clearTimeout(timer);
    await linked.close();
  });

  it("a log file appended to in the same folder asks for nothing", async () => {
    const { dir, watcher, calls } = setup();
    const log = path.join(dir, "frelay.log");
    for (let i = 0; i < 300; i++) fs.appendFileSync(log, `{"event":"paired","n":${i}}\n`);
    // Absence has no event to wait on: longer than the debounce and the settling together.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(calls(), 0);
    await watcher.close();
  });
});

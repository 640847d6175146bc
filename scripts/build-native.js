#!/usr/bin/env node
// Builds the native splice(2) data path (binding.gyp → build/Release/frelay_splice.node).
// Runs at `npm install`; it never fails the install: without Linux, a C++ compiler, make or
// python3, frelay runs on its JavaScript data path, and this prints one line saying so.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const logFile = path.join(root, "build", "native-build.log");

function skip(why) {
  console.log(`frelay: native splice data path not built (${why}); frelay will use its JavaScript data path. Fix that and run "node scripts/build-native.js" to build it.`);
  process.exit(0);
}

if (process.platform !== "linux") skip(`needs Linux, this is ${process.platform}`);
if (process.env.FRELAY_SPLICE === "off") skip("FRELAY_SPLICE=off");

let gyp;
try {
  gyp = require.resolve("node-gyp/bin/node-gyp.js", { paths: [root] });
} catch {
  skip("node-gyp is not installed");
}

// node-gyp would download Node's headers; the running Node's own include dir (installed with
// it by every Node package and distribution that ships headers) makes the build work offline.
// The addon uses Node-API only, so headers of any supported line build a binary for all lines.
const args = [gyp, "rebuild"];
const nodeDir = path.resolve(process.execPath, "..", "..");
if (fs.existsSync(path.join(nodeDir, "include", "node", "node_api.h"))) args.push(`--nodedir=${nodeDir}`);

const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", timeout: 300_000 });
fs.mkdirSync(path.dirname(logFile), { recursive: true });
fs.writeFileSync(logFile, `${r.stdout ?? ""}\n${r.stderr ?? ""}`);
if (r.status !== 0) {
  const lines = `${r.stderr ?? ""}`.split("\n").filter((l) => /error|not found|No such file/i.test(l));
  const first = (r.error && r.error.message) || lines.find((l) => !/^gyp (ERR|info)! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l)) || `node-gyp exited with ${r.status}`;
  skip(`${first.replace(/^gyp ERR! /, "").trim()}; full log in build/native-build.log`);
}
console.log("frelay: native splice data path and memory trim built (build/Release/frelay_splice.node, frelay_memory.node)");

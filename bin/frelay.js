#!/usr/bin/env node
// Thin entry: everything lives in the compiled CLI.
require("../dist/src/cli/main.js").main(process.argv);

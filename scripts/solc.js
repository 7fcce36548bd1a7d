#!/usr/bin/env node
// A `solc`-compatible front for the npm `solc` package (solcjs), so that py-solc-x's
// compile_standard() can drive the pinned compiler: it answers `--version` the way the
// native binary does and runs `--standard-json` from stdin, printing only the JSON.
"use strict";
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("scripts/solc.js only supports --version and --standard-json\n");
  process.exit(2);
}
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(input));
});

#!/usr/bin/env node
"use strict";
// The `aura` CLI runs the TypeScript sources directly through tsx, so `npx aura …` works right
// after `npm ci` with no build step.
require("tsx/cjs");
require("../src/cli/main.ts")
  .main(process.argv)
  .catch((err) => {
    process.stderr.write(`aura: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });

"use strict";
// Worker threads do not inherit a TypeScript loader; register tsx before loading the worker.
require("tsx/cjs");
require("./probe-worker.ts");

// Loads ccxt through Node's own module loader. In a normal process this is exactly
// `require("ccxt")` (same cached instance); under Jest it keeps ccxt out of Jest's module
// sandbox, which cannot load ccxt's ESM dependencies (@noble/*).
import type * as Ccxt from "ccxt";

type CcxtModule = typeof Ccxt;

let cached: CcxtModule | undefined;

export function ccxtModule(): CcxtModule {
  if (!cached) {
    const NodeModule = require("node:module") as any;
    const Ctor = NodeModule.Module ?? NodeModule;
    const m = new Ctor(__filename);
    m.filename = __filename;
    m.paths = Ctor._nodeModulePaths(__dirname);
    const mod = m.require("ccxt");
    cached = (mod.pro ? mod : (mod.default ?? mod)) as CcxtModule;
  }
  return cached;
}

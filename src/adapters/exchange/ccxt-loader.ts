// Loads ccxt through Node's own module loader. In a normal process this is exactly
// `require("ccxt")` (same cached instance); under Jest it keeps ccxt out of Jest's module
// sandbox, which cannot load ccxt's ESM dependencies (@noble/*).
import type * as Ccxt from "ccxt";

type CcxtModule = typeof Ccxt;

let cached: CcxtModule | undefined;

/** Node's CommonJS Module class, with the internal path helper its typings leave out. */
interface ModuleClass {
  new (id: string): { filename: string; paths: string[]; require(id: string): unknown };
  _nodeModulePaths(from: string): string[];
}

export function ccxtModule(): CcxtModule {
  if (!cached) {
    const NodeModule = require("node:module") as ModuleClass & { Module?: ModuleClass };
    const Ctor = NodeModule.Module ?? NodeModule;
    const m = new Ctor(__filename);
    m.filename = __filename;
    m.paths = Ctor._nodeModulePaths(__dirname);
    // an ESM build seen through require() puts everything under `default`
    const mod = m.require("ccxt") as Partial<CcxtModule> & { default?: CcxtModule };
    cached = (mod.pro ? mod : (mod.default ?? mod)) as CcxtModule;
  }
  return cached;
}

// The strategy format's one implementation, shared with the server: the builder checks a definition
// with the very validator that POST /api/v1/strategies runs, so the two can never disagree. The
// import is relative (not an alias) so Vite, svelte-check and the root Jest project all resolve it
// without extra configuration; the modules it pulls in are plain TypeScript with no Node imports.
export { validateStrategy, pointer } from "../../../../src/core/strategy/validator";
export {
  BINARY_OPERATORS,
  INDICATOR_NAME_PATTERN,
  LIMITS,
  RESERVED_NAMES,
  type BinaryOperator,
} from "../../../../src/core/strategy/definition";
export {
  INDICATORS,
  INDICATOR_TYPES,
  indicatorSpec,
  type IndicatorSpec,
} from "../../../../src/core/indicators/registry";
export { FIXED_INTERVALS, SYMBOLS } from "../../../../src/core/market/symbols";
export { PRICE_FIELDS, type PriceField } from "../../../../src/core/model/candle";
export type { ValidationIssue } from "../../../../src/core/model/errors";

export { Decimal, DecimalError, BINANCE_DECIMALS, dec, fixed8 } from "./decimal";
export type { DecimalLike, RoundingMode } from "./decimal";

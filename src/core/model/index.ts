export * from "./candle";
export * from "./errors";
export * from "./position";
export * from "./signal";

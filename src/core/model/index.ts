export * from "./candle";
export * from "./errors";
export * from "./order";
export * from "./position";
export * from "./signal";

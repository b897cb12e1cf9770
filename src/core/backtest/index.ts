export * from "./engine";
export * from "./metrics";
export * from "./range";
export * from "./result";
export * from "./rounding";
export * from "./request";
export * from "./sweep";

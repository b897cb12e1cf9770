export * from "./base";
export * from "./compiler";
export * from "./definition";
export * from "./schema";
export * from "./validator";

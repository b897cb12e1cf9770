// AURA's Binance-compatible exchange simulator: replays real klines, matches orders in exact
// decimals and serves Binance Spot REST + WebSocket on loopback (docs/simulator.md).
export { createSimulator, Simulator } from "./simulator";
export type {
  SimulatorOptions,
  AccountView,
  ClockControl,
  FaultControl,
  FaultView,
  OrderFilter,
} from "./simulator";
export type { AccountCredentials, CreateAccountOptions } from "./core/core";
export { DEFAULT_SPEED, DEFAULT_INTRABAR_STEPS } from "./core/core";
export type { ApiPermissions } from "./core/accounts";
export { DEFAULT_PERMISSIONS } from "./core/accounts";
export type { FaultSpec, FaultKind, FaultMatch } from "./core/faults";
export { FAULT_KINDS } from "./core/faults";
export type { LimitsConfig } from "./core/limits";
export { DEFAULT_LIMITS } from "./core/limits";
export type { ClockState, Timers } from "./replay/replay";
export type { EngineConfig } from "./engine/engine";
export type { WsOptions } from "./ws/gateway";
export { hmacHex, wsApiPayload } from "./binance/signing";

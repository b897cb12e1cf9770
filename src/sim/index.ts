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
export type { AccountCredentials, CreateAccountOptions } from "./venue/venue";
export { DEFAULT_SPEED, DEFAULT_INTRABAR_STEPS } from "./venue/venue";
export type { ApiPermissions } from "./venue/accounts";
export { DEFAULT_PERMISSIONS } from "./venue/accounts";
export type { FaultSpec, FaultKind, FaultMatch } from "./venue/faults";
export { FAULT_KINDS } from "./venue/faults";
export type { LimitsConfig } from "./venue/limits";
export { DEFAULT_LIMITS } from "./venue/limits";
export type { ClockState, Timers } from "./replay/replay";
export type { EngineConfig } from "./engine/engine";
export type { WsOptions } from "./ws/gateway";
export { hmacHex, wsApiPayload } from "./binance/signing";
export type { SimSnapshot, SnapshotAccount, SnapshotClock } from "./venue/snapshot";
export { SnapshotError, SNAPSHOT_VERSION, DEFAULT_SNAPSHOT_HISTORY } from "./venue/snapshot";

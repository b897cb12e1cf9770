// Shapes of the strategies API (services/strategies.service.ts) and what the pages derive from them.

export type StrategyStatus = "draft" | "active" | "stopping" | "stopped" | "error";

export interface StrategyView {
  id: number;
  name: string;
  symbol: string;
  interval: string;
  status: StrategyStatus;
  paused: boolean;
  mode: "paper" | "live" | null;
  keyId: number | null;
  version: number;
  activeVersion: number | null;
  restartNeeded: boolean;
  statusReason: string | null;
  closeOnStop: boolean;
  lastCandleTime: number | null;
  activatedAt: string | null;
  createdAt: string;
  updatedAt: string;
  runner: { ownerNode: string | null; leaseExpiresAt: string | null; fencingToken: number | null } | null;
}

export interface StrategyDetail extends StrategyView {
  definition: Record<string, unknown>;
  activeDefinition?: Record<string, unknown>;
}

export interface Decision {
  id: number;
  time: string;
  kind: string;
  level: string;
  candleOpenTime: number | null;
  action: string | null;
  message: string;
  data: unknown;
}

export interface KeyOption {
  id: number;
  label: string;
  exchange: string;
  status: string;
}

/** What the list shows as the state: paused is a flag on an active instance, not a status. */
export function stateOf(s: Pick<StrategyView, "status" | "paused">): string {
  return s.status === "active" && s.paused ? "paused" : s.status;
}

/** Running or on its way to stop: the server refuses to delete it (409 STRATEGY_ACTIVE). */
export const isRunning = (s: Pick<StrategyView, "status">) =>
  s.status === "active" || s.status === "stopping";

/**
 * Keys that can trade live: the valid ones, less the paper account that paper activations open
 * (the keys API does not flag it, so it is known by its fixed label on the simulator venue; were
 * one missed, the server would still refuse it with KEY_IS_PAPER_ACCOUNT).
 */
export function liveKeys(keys: readonly KeyOption[]): KeyOption[] {
  return keys.filter((k) => k.status === "valid" && !(k.exchange === "sim" && k.label === "Paper account"));
}

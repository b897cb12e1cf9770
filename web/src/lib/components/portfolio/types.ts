// The portfolio answer of GET /api/v1/portfolio, as the dashboard reads it.
import type { Mode, PositionView } from "$lib/history";

export interface Windows {
  today: string;
  d7: string;
  d30: string;
  all: string;
}

export interface Portfolio {
  currency: string;
  asOf: string;
  totalValue: string;
  complete: boolean;
  accounts: {
    keyId: number;
    label: string;
    exchange: string;
    mode: Mode;
    status: "ok" | "unavailable";
    message?: string;
    value: string;
  }[];
  positions: PositionView[];
  unrealizedPnl: string;
  realizedPnl: Windows;
  fees: Windows & { otherAssets?: Record<string, string> };
}

export interface LogItem {
  source: "decision" | "system";
  id: number;
  time: string;
  level: string;
  strategyId: number | null;
  kind: string;
  action: string | null;
  message: string | null;
}

export interface Alert {
  id: number;
  kind: string;
  severity: "info" | "warn" | "error" | "critical";
  message: string;
  strategyId: number | null;
  createdAt: string;
  acknowledgedAt: string | null;
}

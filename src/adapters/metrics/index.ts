// AURA's own Prometheus metrics, beside Moleculer's defaults (enabled with METRICS_PORT). One
// list of definitions: services record through `auraMetrics(broker)`, the alerting rules and the
// Grafana dashboard name only metrics from this list (test/unit/ops/metrics.test.ts holds them to
// it). With metrics off every recorder is a no-op, so services call them unconditionally.
import type { ServiceBroker } from "moleculer";

type MetricType = "counter" | "gauge" | "histogram";

interface MetricDef {
  name: string;
  type: MetricType;
  description: string;
  labelNames?: string[];
  unit?: string;
  buckets?: number[];
}

export const AURA_METRICS = {
  orders: {
    name: "aura_orders_total",
    type: "counter",
    description: "Order commands by outcome (accepted, pending, rejected, denied, noop) and kind",
    labelNames: ["outcome", "kind"],
  },
  signalToOrder: {
    name: "aura_signal_to_order_seconds",
    type: "histogram",
    description:
      "From the closed candle reaching the strategy actor to the order request leaving for the venue",
    unit: "seconds",
    // Prometheus' histogram_quantile needs buckets around the 5 ms target and the slow tail
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  },
  activeInstances: {
    name: "aura_strategy_instances_active",
    type: "gauge",
    description: "Strategy instances whose actor runs on this runner",
  },
  candleLag: {
    name: "aura_candle_lag_seconds",
    type: "gauge",
    // against a replaying simulator this is the replay's distance from now, not a delay
    description: "Seconds between a candle's close time and its publication, per series owned by this node",
    labelNames: ["symbol", "interval"],
    unit: "seconds",
  },
  marketStale: {
    name: "aura_market_stale_total",
    type: "counter",
    description: "Times a subscribed market stream went silent past MARKET_DATA_STALE_MS",
    labelNames: ["symbol"],
  },
  reconcileDifferences: {
    name: "aura_reconcile_differences_total",
    type: "counter",
    description: "Differences reconciliation found between the venue and the database, by kind",
    labelNames: ["kind"],
  },
  unprotectedPositions: {
    name: "aura_unprotected_positions",
    type: "gauge",
    description: "Open positions without a live protective OCO, as of this node's last check",
  },
  wsClients: {
    name: "aura_ws_clients",
    type: "gauge",
    description: "Open dashboard WebSocket connections on this gateway",
  },
} as const satisfies Record<string, MetricDef>;

export type AuraMetricKey = keyof typeof AURA_METRICS;

export interface AuraMetrics {
  inc(key: AuraMetricKey, labels?: Record<string, string>, value?: number): void;
  set(key: AuraMetricKey, value: number, labels?: Record<string, string>): void;
  observe(key: AuraMetricKey, value: number, labels?: Record<string, string>): void;
}

const NOOP: AuraMetrics = { inc() {}, set() {}, observe() {} };
const registered = new WeakSet<ServiceBroker>();

/** The recorders for `broker`; registers every AURA metric once per broker. */
export function auraMetrics(broker: ServiceBroker): AuraMetrics {
  if (!broker.isMetricsEnabled()) return NOOP;
  if (!registered.has(broker)) {
    registered.add(broker);
    for (const def of Object.values(AURA_METRICS) as MetricDef[]) {
      if (broker.metrics.getMetric(def.name)) continue;
      const base = {
        name: def.name,
        description: def.description,
        labelNames: def.labelNames ? [...def.labelNames] : undefined,
        unit: def.unit,
      };
      if (def.type === "histogram")
        broker.metrics.register({
          ...base,
          type: "histogram",
          buckets: def.buckets ? [...def.buckets] : true,
        });
      else if (def.type === "counter") broker.metrics.register({ ...base, type: "counter" });
      else broker.metrics.register({ ...base, type: "gauge" });
    }
  }
  const m = broker.metrics;
  return {
    inc: (key, labels, value = 1) => void m.increment(AURA_METRICS[key].name, labels, value),
    set: (key, value, labels) => void m.set(AURA_METRICS[key].name, value, labels),
    observe: (key, value, labels) => void m.observe(AURA_METRICS[key].name, value, labels),
  };
}

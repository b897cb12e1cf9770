// Fault injection for the failure modes AURA's order execution must survive (docs/simulator.md,
// Fault switches). Each fault is armed for the next `count` matching requests, for a
// wall-clock window of `durationMs`, or both (whichever ends first). Without either, a
// request-level fault applies to the next matching request and a state fault (clock-offset,
// pause-user-data, ws-drop refusal) stays until removed.

export const FAULT_KINDS = [
  "latency",
  "delay-after-commit",
  "error-after-commit",
  "error-before-commit",
  "partial-fill",
  "rate-limit",
  "order-not-found",
  "ws-drop",
  "pause-user-data",
  "clock-offset",
  "reject-oco",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultMatch {
  /** HTTP method, e.g. "POST". */
  method?: string;
  /** Exact path, or a prefix ending in "*", e.g. "/api/v3/order*". */
  path?: string;
}

export interface FaultSpec {
  kind: FaultKind;
  /** Armed for this many matching requests (or events / orders, see docs/simulator.md). */
  count?: number;
  /** Armed for this many wall-clock milliseconds from now. */
  durationMs?: number;
  /** Lets this many matching requests through untouched before the fault applies (default 0). */
  skip?: number;
  match?: FaultMatch;
  /** latency / delay-after-commit: delay; order-not-found: how long an accepted order stays invisible; clock-offset: offset (may be negative). */
  ms?: number;
  /** error-after/before-commit: HTTP status (default 503); rate-limit: 429 (default) or 418. */
  status?: number;
  /** error-after/before-commit: -1000 (default), -1001 or -1007; reject-oco: default -1013. */
  code?: number;
  msg?: string;
  /** rate-limit: Retry-After seconds (default 2). */
  retryAfter?: number;
  /** pause-user-data: "drop" events (default) or "hold" them until the pause ends. */
  mode?: "drop" | "hold";
  /** ws-drop: which connections to drop (default "all"). */
  scope?: "all" | "market" | "user";
  /** partial-fill: the share of a MARKET order's quantity that fills, a decimal in (0, 1) (default "0.5"). */
  ratio?: string;
}

export interface ActiveFault extends Required<Pick<FaultSpec, "kind">> {
  id: string;
  spec: FaultSpec;
  createdAt: number;
  until?: number;
  remaining?: number;
  hits: number;
  /** matching requests let through so far (see FaultSpec.skip) */
  passed: number;
}

const DEFAULT_MATCH: Partial<Record<FaultKind, FaultMatch>> = {
  latency: { path: "/api/*" },
  "delay-after-commit": { method: "POST", path: "/api/v3/order" },
  "error-after-commit": { method: "POST", path: "/api/v3/order" },
  "error-before-commit": { method: "POST", path: "/api/v3/order" },
  "partial-fill": { method: "POST", path: "/api/v3/order" },
  "rate-limit": { path: "/api/*" },
  "order-not-found": { method: "POST", path: "/api/v3/order" },
  "clock-offset": {},
  "reject-oco": {},
};

/** Request-level faults armed without count or window apply to the next matching request only. */
const ONE_SHOT: FaultKind[] = [
  "latency",
  "delay-after-commit",
  "error-after-commit",
  "error-before-commit",
  "partial-fill",
  "rate-limit",
  "order-not-found",
  "reject-oco",
];

export function validateFault(spec: FaultSpec): FaultSpec {
  if (!spec || typeof spec !== "object") throw new RangeError("fault must be an object");
  if (!FAULT_KINDS.includes(spec.kind)) throw new RangeError(`kind must be one of ${FAULT_KINDS.join(", ")}`);
  const posInt = (v: unknown, name: string) => {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1))
      throw new RangeError(`${name} must be a positive integer`);
  };
  posInt(spec.count, "count");
  posInt(spec.durationMs, "durationMs");
  if (spec.skip !== undefined && (!Number.isInteger(spec.skip) || spec.skip < 0))
    throw new RangeError("skip must be a non-negative integer");
  if (spec.ms !== undefined && (!Number.isInteger(spec.ms) || (spec.kind !== "clock-offset" && spec.ms < 0)))
    throw new RangeError("ms must be an integer (non-negative except for clock-offset)");
  const needsMs: FaultKind[] = ["latency", "delay-after-commit", "order-not-found", "clock-offset"];
  if (needsMs.includes(spec.kind) && spec.ms === undefined) throw new RangeError(`${spec.kind} needs ms`);
  if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599))
    throw new RangeError("status must be an HTTP error status");
  if (spec.kind === "rate-limit" && spec.status !== undefined && spec.status !== 429 && spec.status !== 418)
    throw new RangeError("rate-limit status must be 429 or 418");
  if (spec.code !== undefined && !Number.isInteger(spec.code))
    throw new RangeError("code must be an integer");
  if (spec.msg !== undefined && typeof spec.msg !== "string") throw new RangeError("msg must be a string");
  if (spec.mode !== undefined && spec.mode !== "drop" && spec.mode !== "hold")
    throw new RangeError("mode must be drop or hold");
  if (
    spec.ratio !== undefined &&
    (typeof spec.ratio !== "string" || !/^0?\.[0-9]{1,8}$/.test(spec.ratio) || !/[1-9]/.test(spec.ratio))
  )
    throw new RangeError('ratio must be a decimal string between 0 and 1, e.g. "0.23"');
  if (spec.scope !== undefined && !["all", "market", "user"].includes(spec.scope))
    throw new RangeError("scope must be all, market or user");
  if (spec.match !== undefined && (typeof spec.match !== "object" || spec.match === null))
    throw new RangeError("match must be an object");
  return spec;
}

function pathMatches(pattern: string | undefined, path: string): boolean {
  if (pattern === undefined) return true;
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

export class FaultInjector {
  private readonly faults: ActiveFault[] = [];
  private seq = 0;
  /** Called when a fault is added, used up, expires or is removed. */
  onChange?: (f: ActiveFault, change: "added" | "ended") => void;

  constructor(private readonly now: () => number) {}

  add(input: FaultSpec): ActiveFault {
    const spec = validateFault({ ...input, match: input.match ?? DEFAULT_MATCH[input.kind] });
    if (spec.count === undefined && spec.durationMs === undefined && ONE_SHOT.includes(spec.kind))
      spec.count = 1;
    const t = this.now();
    const f: ActiveFault = {
      id: `f${++this.seq}`,
      kind: spec.kind,
      spec,
      createdAt: t,
      until: spec.durationMs !== undefined ? t + spec.durationMs : undefined,
      remaining: spec.count,
      hits: 0,
      passed: 0,
    };
    this.faults.push(f);
    this.onChange?.(f, "added");
    return f;
  }

  private prune(): void {
    const t = this.now();
    for (let i = this.faults.length - 1; i >= 0; i--) {
      const f = this.faults[i];
      if ((f.until !== undefined && f.until <= t) || f.remaining === 0) {
        this.faults.splice(i, 1);
        this.onChange?.(f, "ended");
      }
    }
  }

  /** The first armed fault of `kind` matching the request, consuming one of its count. */
  take(kind: FaultKind, method?: string, path?: string): ActiveFault | undefined {
    const f = this.peek(kind, method, path);
    if (!f) return undefined;
    if (f.passed < (f.spec.skip ?? 0)) {
      f.passed++;
      return undefined;
    }
    f.hits++;
    if (f.remaining !== undefined) {
      f.remaining--;
      if (f.remaining === 0) this.prune();
    }
    return f;
  }

  /** Like take() without consuming. */
  peek(kind: FaultKind, method?: string, path?: string): ActiveFault | undefined {
    if (this.faults.length === 0) return undefined;
    this.prune();
    return this.faults.find(
      (f) =>
        f.kind === kind &&
        (method === undefined ||
          f.spec.match?.method === undefined ||
          f.spec.match.method.toUpperCase() === method) &&
        (path === undefined || pathMatches(f.spec.match?.path, path)),
    );
  }

  has(kind: FaultKind): boolean {
    return this.peek(kind) !== undefined;
  }

  list(): ActiveFault[] {
    this.prune();
    return [...this.faults];
  }

  remove(id: string): boolean {
    const i = this.faults.findIndex((f) => f.id === id);
    if (i < 0) return false;
    const [f] = this.faults.splice(i, 1);
    this.onChange?.(f, "ended");
    return true;
  }

  clear(): void {
    for (const f of this.faults.splice(0)) this.onChange?.(f, "ended");
  }

  view(f: ActiveFault): Record<string, unknown> {
    return {
      id: f.id,
      ...f.spec,
      createdAt: f.createdAt,
      until: f.until ?? null,
      remaining: f.remaining ?? null,
      hits: f.hits,
    };
  }
}

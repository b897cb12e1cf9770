import { FaultInjector } from "../../../src/sim/venue/faults";
import { DEFAULT_LIMITS, RateLimiter } from "../../../src/sim/venue/limits";

describe("rate limiter", () => {
  it("counts weight per IP in fixed minute windows, 429 with Retry-After, then 418 after repeated violations", () => {
    let now = 60_000 * 1000 + 45_000; // 45 s into a minute
    const rl = new RateLimiter(
      { ...DEFAULT_LIMITS, weightPerMinute: 10, banAfter429s: 2, banMs: 120_000 },
      () => now,
    );
    expect(rl.charge("a", 6)).toBeUndefined();
    expect(rl.charge("b", 10)).toBeUndefined(); // other IPs have their own budget
    const e = rl.charge("a", 6)!;
    expect([e.httpStatus, e.code, e.headers["Retry-After"]]).toEqual([429, -1003, "15"]);
    expect(e.msg).toBe(
      "Too much request weight used; current limit is 10 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
    );
    expect(rl.charge("a", 1)!.httpStatus).toBe(429);
    const ban = rl.charge("a", 1)!;
    expect([ban.httpStatus, ban.code, ban.headers["Retry-After"]]).toEqual([418, -1003, "120"]);
    expect(ban.msg).toMatch(
      /^Way too much request weight used; IP banned until \d+\. Please use WebSocket Streams for live updates to avoid bans\.$/,
    );
    // the ban outlives the minute window
    now += 30_000;
    expect(rl.charge("a", 1)!.httpStatus).toBe(418);
    now += 120_000;
    expect(rl.charge("a", 1)).toBeUndefined();
    expect(rl.usedWeight("a")).toBe(1);
  });

  it("limits new orders per account per 10 s and per day", () => {
    let now = 1_000_000_000_000;
    const rl = new RateLimiter({ ...DEFAULT_LIMITS, ordersPer10s: 3, ordersPerDay: 5 }, () => now);
    expect(rl.checkOrders(1, 2)).toBeUndefined();
    expect(rl.recordOrders(1, 2)).toEqual({ count10s: 2, count1d: 2 });
    const e = rl.checkOrders(1, 2)!;
    expect([e.httpStatus, e.code, e.msg]).toEqual([
      429,
      -1015,
      "Too many new orders; current limit is 3 orders per 10 SECOND.",
    ]);
    expect(rl.checkOrders(2, 3)).toBeUndefined();
    now += 10_000;
    rl.recordOrders(1, 3);
    now += 10_000;
    expect(rl.checkOrders(1, 1)!.msg).toBe("Too many new orders; current limit is 5 orders per 1 DAY.");
  });
});

describe("fault injector", () => {
  it("arms a fault for the next N matching requests", () => {
    const f = new FaultInjector(() => 0);
    f.add({ kind: "error-after-commit", count: 2 });
    expect(f.take("error-after-commit", "GET", "/api/v3/order")).toBeUndefined(); // default match: POST /api/v3/order
    expect(f.take("error-after-commit", "POST", "/api/v3/order")).toBeDefined();
    expect(f.take("error-after-commit", "POST", "/api/v3/order")).toBeDefined();
    expect(f.take("error-after-commit", "POST", "/api/v3/order")).toBeUndefined();
    expect(f.list()).toEqual([]);
  });

  it("arms a fault for a time window, with a path prefix match", () => {
    let now = 0;
    const ended: string[] = [];
    const f = new FaultInjector(() => now);
    f.onChange = (x, c) => c === "ended" && ended.push(x.kind);
    f.add({ kind: "latency", ms: 100, durationMs: 1000, match: { path: "/api/v3/order*" } });
    expect(f.take("latency", "GET", "/api/v3/ping")).toBeUndefined();
    expect(f.take("latency", "DELETE", "/api/v3/orderList")?.spec.ms).toBe(100);
    now = 1000;
    expect(f.take("latency", "POST", "/api/v3/order")).toBeUndefined();
    expect(ended).toEqual(["latency"]);
  });

  it("a request-level fault without count or window applies once; a state fault stays", () => {
    const f = new FaultInjector(() => 0);
    f.add({ kind: "reject-oco" });
    f.add({ kind: "clock-offset", ms: 5000 });
    expect(f.take("reject-oco")).toBeDefined();
    expect(f.take("reject-oco")).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(f.take("clock-offset")?.spec.ms).toBe(5000);
  });

  it("validates specs", () => {
    const f = new FaultInjector(() => 0);
    expect(() => f.add({ kind: "nope" as never })).toThrow(/kind must be one of/);
    expect(() => f.add({ kind: "latency" })).toThrow("latency needs ms");
    expect(() => f.add({ kind: "latency", ms: 5, count: 0 })).toThrow("count must be a positive integer");
    expect(() => f.add({ kind: "rate-limit", status: 500 })).toThrow("rate-limit status must be 429 or 418");
    expect(() => f.add({ kind: "clock-offset", ms: -2000 })).not.toThrow();
  });
});

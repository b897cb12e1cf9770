// The simulator as one object: an HTTP server carrying the Binance REST API, the WebSocket
// endpoints and the /sim/v1 admin API, plus the same controls as methods for in-process use.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { AdminApi, AdminError, type AdminTarget } from "./admin/admin";
import { orderQuery, orderResponse } from "./binance/format";
import type { ApiPermissions } from "./venue/accounts";
import {
  SimCore,
  parseTime,
  type AccountCredentials,
  type CoreOptions,
  type CreateAccountOptions,
} from "./venue/venue";
import type { ActiveFault, FaultSpec } from "./venue/faults";
import type { LimitsConfig } from "./venue/limits";
import { isOpenStatus, type CommissionAsset } from "./engine/types";
import { Params } from "./http/params";
import { newOrderRequest } from "./http/routes-orders";
import { RestApi, type RequestLogEntry } from "./http/server";
import type { ClockState } from "./replay/replay";
import type { SimSnapshot } from "./venue/snapshot";
import { WsGateway, type WsOptions } from "./ws/gateway";

export interface SimulatorOptions extends CoreOptions {
  ws?: WsOptions;
  /** When set, /sim/v1 requires "Authorization: Bearer <adminToken>". */
  adminToken?: string;
}

export interface AccountView {
  accountId: number;
  apiKey: string;
  permissions: ApiPermissions;
  commission: { maker: string; taker: string; asset: CommissionAsset };
  balances: Record<string, { free: string; locked: string }>;
  openOrders: number;
}

export interface FaultView {
  id: string;
  kind: string;
  [k: string]: unknown;
}

export interface ClockControl {
  state(): ClockState;
  /** Step forward by whole candles (to the n-th next candle boundary) or by milliseconds. */
  advance(by: { candles?: number; ms?: number }): ClockState;
  jump(time: number | string): ClockState;
  setSpeed(speed: number): ClockState;
  pause(): ClockState;
  resume(): ClockState;
  setStepMode(step: boolean): ClockState;
}

export interface FaultControl {
  add(spec: FaultSpec): FaultView;
  list(): FaultView[];
  remove(id: string): boolean;
  clear(): void;
}

export interface OrderFilter {
  apiKey?: string;
  symbol?: string;
  /** "open", "closed" or an order status such as "FILLED". */
  status?: string;
  clientOrderId?: string;
}

const LIMIT_KEYS: (keyof LimitsConfig)[] = [
  "weightPerMinute",
  "ordersPer10s",
  "ordersPerDay",
  "rawRequestsPer5m",
  "banAfter429s",
  "banMs",
];

export class Simulator implements AdminTarget {
  readonly core: SimCore;
  private readonly rest: RestApi;
  private readonly gateway: WsGateway;
  private readonly admin: AdminApi;
  private readonly server: http.Server;
  private address?: { port: number; host: string };
  private closing?: Promise<void>;
  readonly clock: ClockControl;
  readonly faults: FaultControl;
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];

  constructor(opts: SimulatorOptions = {}) {
    this.core = new SimCore(opts);
    this.rest = new RestApi(this.core);
    this.gateway = new WsGateway(this.core, opts.ws);
    this.admin = new AdminApi(this, opts.adminToken);
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on("upgrade", (req, socket, head) => this.gateway.handleUpgrade(req, socket, head));
    this.server.on("clientError", (_e, socket) => socket.destroy());
    this.core.streams.onChange = () => this.checkWaiters();
    this.core.users.onChange = () => this.checkWaiters();
    const r = this.core.replay;
    this.clock = {
      state: () => r.state(),
      advance: (by) => r.advance(by),
      jump: (t) => r.jump(parseTime(t, "time")),
      setSpeed: (s) => r.setSpeed(s),
      pause: () => r.pause(),
      resume: () => r.resume(),
      setStepMode: (s) => r.setStepMode(s),
    };
    const f = this.core.faults;
    this.faults = {
      add: (spec) => f.view(f.add(spec)) as FaultView,
      list: () => f.list().map((x: ActiveFault) => f.view(x) as FaultView),
      remove: (id) => f.remove(id),
      clear: () => f.clear(),
    };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? "" : url.slice(q + 1);
    const p =
      path === "/sim/v1" || path.startsWith("/sim/v1/")
        ? this.admin.handle(req, res, path, rawQuery)
        : this.rest.handle(req, res, path, rawQuery);
    p.catch(() => res.destroy());
  }

  /** Starts listening (port 0 picks a free port) and the realtime replay. */
  listen(port = 0, host = "127.0.0.1"): Promise<{ port: number; host: string }> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        this.server.off("listening", onListening);
        if (e.code === "EADDRINUSE")
          reject(
            new Error(
              `exchange simulator: port ${port} on ${host} is already in use; choose another port (or 0 for any free one)`,
            ),
          );
        else reject(e);
      };
      const onListening = () => {
        this.server.off("error", onError);
        const a = this.server.address() as AddressInfo;
        this.address = { port: a.port, host };
        this.core.start();
        resolve(this.address);
      };
      this.server.once("error", onError);
      this.server.once("listening", onListening);
      this.server.listen(port, host);
    });
  }

  /** Stops the replay, closes every socket and the server. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.core.stop();
      this.rest.cancelSleeps();
      this.gateway.close();
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private addr(): { port: number; host: string } {
    if (!this.address) throw new Error("the simulator is not listening; call listen() first");
    return this.address;
  }

  get port(): number {
    return this.addr().port;
  }

  /** REST base, e.g. http://127.0.0.1:8090 (Binance paths /api/v3/... hang off it). */
  get baseUrl(): string {
    const a = this.addr();
    return `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
  }

  /** Raw market streams base: ws://host:port/ws (ccxt.pro's urls.api.ws.spot). */
  get wsUrl(): string {
    return this.baseUrl.replace(/^http/, "ws") + "/ws";
  }

  /** Combined streams: ws://host:port/stream?streams=a/b. */
  get streamUrl(): string {
    return this.baseUrl.replace(/^http/, "ws") + "/stream";
  }

  /** WebSocket API: ws://host:port/ws-api/v3. */
  get wsApiUrl(): string {
    return this.baseUrl.replace(/^http/, "ws") + "/ws-api/v3";
  }

  /** URL overrides that point ccxt's binance class here (see docs/simulator.md). */
  ccxtUrls(): {
    public: string;
    private: string;
    v1: string;
    sapi: string;
    ws: { spot: string; margin: string; "ws-api": { spot: string } };
  } {
    return {
      public: `${this.baseUrl}/api/v3`,
      private: `${this.baseUrl}/api/v3`,
      v1: `${this.baseUrl}/api/v1`,
      sapi: `${this.baseUrl}/sapi/v1`,
      ws: { spot: this.wsUrl, margin: this.wsUrl, "ws-api": { spot: this.wsApiUrl } },
    };
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    const still = [];
    for (const w of this.waiters) {
      if (w.ready()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private when(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ready, resolve }));
  }

  /**
   * Resolves once `stream` (e.g. "btcusdt@kline_1h") has at least `count` subscribers, so a
   * caller can step the clock knowing the updates will reach them.
   */
  whenSubscribed(stream: string, count = 1): Promise<void> {
    return this.when(() => this.core.streams.subscribers(stream) >= count);
  }

  /** Resolves once the account has at least `count` live user-data streams (WS API or listenKey). */
  whenUserStream(apiKey: string, count = 1): Promise<void> {
    const a = this.lookup(apiKey);
    return this.when(() => this.core.users.sinkCount(a.id) >= count);
  }

  // ---------------------------------------------------------------- accounts

  createAccount(opts: CreateAccountOptions | Record<string, unknown> = {}): AccountCredentials {
    return this.core.createAccount(opts as CreateAccountOptions);
  }

  accountView(apiKey: string): AccountView {
    const a = this.lookup(apiKey);
    const st = this.core.engine.account(a.id);
    const balances: Record<string, { free: string; locked: string }> = {};
    for (const [asset, b] of [...st.balances.entries()].sort(([x], [y]) => (x < y ? -1 : 1)))
      balances[asset] = { free: b.free.toFixed(8), locked: b.locked.toFixed(8) };
    return {
      accountId: a.id,
      apiKey: a.apiKey,
      permissions: { ...a.permissions },
      commission: {
        maker: st.commission.maker.toFixed(8),
        taker: st.commission.taker.toFixed(8),
        asset: st.commissionAsset,
      },
      balances,
      openOrders: this.core.engine.openOrders(a.id).length,
    };
  }

  accountViews(): AccountView[] {
    return this.core.accounts.list().map((a) => this.accountView(a.apiKey));
  }

  private lookup(apiKey: string) {
    const a = this.core.accounts.get(apiKey);
    if (!a) throw new AdminError(404, "NOT_FOUND", `no account with apiKey ${apiKey}`);
    return a;
  }

  /** Sets free balances; each change reaches the account's user-data streams as balanceUpdate. */
  setBalances(apiKey: string, balances: Record<string, string>): AccountView {
    this.lookup(apiKey);
    this.core.setBalances(apiKey, balances);
    return this.accountView(apiKey);
  }

  setPermissions(
    apiKey: string,
    permissions: Partial<ApiPermissions> | Record<string, unknown>,
  ): ApiPermissions {
    this.lookup(apiKey);
    return this.core.setPermissions(apiKey, permissions as Partial<ApiPermissions>);
  }

  // ---------------------------------------------------------------- clock (AdminTarget)

  clockState(): ClockState {
    return this.clock.state();
  }
  clockAdvance(by: { candles?: number; ms?: number }): ClockState {
    return this.clock.advance(by);
  }
  clockJump(time: number | string): ClockState {
    return this.clock.jump(time);
  }
  clockSpeed(speed: number): ClockState {
    return this.clock.setSpeed(speed);
  }
  clockPause(): ClockState {
    return this.clock.pause();
  }
  clockResume(): ClockState {
    return this.clock.resume();
  }
  clockStep(step: boolean): ClockState {
    return this.clock.setStepMode(step);
  }

  // ---------------------------------------------------------------- faults (AdminTarget)

  addFault(spec: FaultSpec): FaultView {
    return this.faults.add(spec);
  }
  listFaults(): FaultView[] {
    return this.faults.list();
  }
  removeFault(id: string): boolean {
    return this.faults.remove(id);
  }
  clearFaults(): void {
    this.faults.clear();
  }

  /** Drops WebSocket connections now; with refuseMs new connections are refused for that long. */
  dropConnections(scope: "all" | "market" | "user" = "all", refuseMs = 0): number {
    return this.gateway.drop(scope, undefined, refuseMs);
  }

  // ---------------------------------------------------------------- orders

  /** Every order the venue holds, oldest first, with its account. */
  orders(filter: OrderFilter = {}): (Record<string, unknown> & { accountId: number; apiKey: string })[] {
    this.core.replay.sync();
    const acc = filter.apiKey !== undefined ? this.lookup(filter.apiKey) : undefined;
    const out: (Record<string, unknown> & { accountId: number; apiKey: string })[] = [];
    for (const o of this.core.engine.allOrdersEverywhere()) {
      if (acc && o.accountId !== acc.id) continue;
      if (filter.symbol && o.symbol !== filter.symbol) continue;
      if (filter.clientOrderId && o.clientOrderId !== filter.clientOrderId) continue;
      if (filter.status === "open" && !isOpenStatus(o.status)) continue;
      if (filter.status === "closed" && isOpenStatus(o.status)) continue;
      if (
        filter.status &&
        filter.status !== "open" &&
        filter.status !== "closed" &&
        o.status !== filter.status
      )
        continue;
      out.push({
        accountId: o.accountId,
        apiKey: this.core.accounts.getById(o.accountId)?.apiKey ?? "",
        ...orderQuery(o),
      });
    }
    return out;
  }

  /**
   * Places an order in an account directly, bypassing the REST API (no signature, no rate
   * limits), e.g. to create orphans for reconciliation tests. With emitEvents: false the
   * account's user-data streams are not told.
   */
  injectOrder(body: Record<string, unknown>): Record<string, unknown> {
    const { apiKey, emitEvents, ...rest } = body;
    if (typeof apiKey !== "string") throw new AdminError(400, "BAD_REQUEST", "apiKey is required");
    const a = this.lookup(apiKey);
    const req = newOrderRequest(Params.fromObject(rest));
    const t = this.core.marketTime();
    const r = this.core.engine.placeOrder(a.id, req, t);
    if (emitEvents !== false) this.core.publish(r.events);
    return orderResponse(r.order, t, r.fills, "FULL");
  }

  // ---------------------------------------------------------------- limits, logs, stats

  limitsView(): LimitsConfig {
    return { ...this.core.limiter.config };
  }

  setLimits(limits: Partial<LimitsConfig> | Record<string, unknown>): LimitsConfig {
    const next = { ...this.core.limiter.config };
    for (const [k, v] of Object.entries(limits)) {
      if (!(LIMIT_KEYS as string[]).includes(k))
        throw new AdminError(400, "BAD_REQUEST", `unknown limit '${k}' (known: ${LIMIT_KEYS.join(", ")})`);
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
        throw new AdminError(400, "BAD_REQUEST", `${k} must be a non-negative integer`);
      (next as Record<string, number>)[k] = v;
    }
    this.core.limiter.config = next;
    return { ...next };
  }

  resetLimits(): void {
    this.core.limiter.reset();
  }

  /** Recent REST requests (method, path, status, weight, code, apiKey), oldest first. */
  requests(limit?: number): RequestLogEntry[] {
    return this.rest.recent(limit);
  }

  clearRequests(): void {
    this.rest.clearLog();
  }

  routes(): { method: string; path: string }[] {
    return this.rest.routeList();
  }

  /**
   * The venue's durable state as a JSON-serialisable value (docs/simulator.md, Persistence):
   * createSimulator({ restore }) rebuilds it. At most `maxHistory` finished orders and trades
   * per account are kept.
   */
  snapshot(maxHistory?: number): SimSnapshot {
    return this.core.snapshot(maxHistory);
  }

  stats(): Record<string, unknown> {
    return {
      connections: {
        market: this.gateway.connectionCount("market"),
        user: this.gateway.connectionCount("user"),
        wsApi: this.gateway.connectionCount("ws-api"),
      },
      streamSubscribers: this.core.streams.subscriberCount(),
      streamMessagesSent: this.core.streams.sent,
      userEvents: { delivered: this.core.users.delivered, dropped: this.core.users.dropped },
      inflight: this.rest.inflightStats(),
      requests: this.rest.recent().length,
    };
  }
}

/** Builds a simulator (not yet listening); with `restore`, from a snapshot (a bad one throws SnapshotError). */
export async function createSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  return new Simulator(opts);
}

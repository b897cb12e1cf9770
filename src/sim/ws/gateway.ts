// WebSocket endpoints: raw streams at /ws[/<stream|listenKey|anything>], combined streams at
// /stream?streams=a/b, the WebSocket API at /ws-api/v3. Live SUBSCRIBE/UNSUBSCRIBE/
// LIST_SUBSCRIPTIONS/SET_PROPERTY/GET_PROPERTY, server pings and pong timeouts.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { SimCore } from "../venue/venue";
import type { StreamSink } from "./market-hub";
import { parseStreamName } from "./streams";
import type { UserSink } from "./user-data";
import { WsApiConnection } from "./ws-api";

export interface WsOptions {
  /** Server ping interval (Binance: 20 s). */
  pingIntervalMs?: number;
  /** A connection that has not answered a ping for this long is closed (Binance: 60 s). */
  pongTimeoutMs?: number;
}

type Kind = "market" | "user" | "ws-api";

interface Tracked {
  ws: WebSocket;
  kind: Kind;
  lastPong: number;
  cleanup(): void;
  listenKeys: Set<string>;
}

const ID_RE = /^[A-Za-z0-9_-]{1,36}$/;

export class WsGateway {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024,
  });
  private readonly conns = new Set<Tracked>();
  private keepalive: unknown;
  private refuseUntil = 0;
  private closed = false;
  private readonly pingMs: number;
  private readonly pongTimeoutMs: number;

  constructor(
    private readonly core: SimCore,
    opts: WsOptions = {},
  ) {
    this.pingMs = opts.pingIntervalMs ?? 20_000;
    this.pongTimeoutMs = opts.pongTimeoutMs ?? 60_000;
    core.onDrop = (scope, listenKey) => this.drop(scope, listenKey);
    core.onListenKeyExpired = (key, accountId) => {
      const json = JSON.stringify({ e: "listenKeyExpired", E: core.replay.now(), listenKey: key });
      for (const c of this.conns) {
        if (!c.listenKeys.has(key)) continue;
        c.ws.send(json);
        c.ws.close(1000, "listenKey expired");
      }
      void accountId;
    };
    this.scheduleKeepalive();
  }

  connectionCount(kind?: Kind): number {
    let n = 0;
    for (const c of this.conns) if (!kind || c.kind === kind) n++;
    return n;
  }

  /** Closes connections abruptly (as a network drop would). Returns how many were dropped. */
  drop(scope: "all" | "market" | "user", listenKey?: string, refuseMs = 0): number {
    let n = 0;
    for (const c of [...this.conns]) {
      if (listenKey !== undefined) {
        if (!c.listenKeys.has(listenKey)) continue;
      } else if (scope === "market" && c.kind !== "market") continue;
      else if (scope === "user" && c.kind === "market" && c.listenKeys.size === 0) continue;
      c.ws.terminate();
      n++;
    }
    if (refuseMs > 0) this.refuseUntil = this.core.wallNow() + refuseMs;
    return n;
  }

  close(): void {
    this.closed = true;
    if (this.keepalive !== undefined) this.core.timers.clearTimeout(this.keepalive);
    for (const c of [...this.conns]) c.ws.terminate();
    this.wss.close();
  }

  private scheduleKeepalive(): void {
    if (this.closed) return;
    this.keepalive = this.core.timers.setTimeout(() => {
      this.keepalive = undefined;
      this.core.sweepListenKeys();
      const now = this.core.wallNow();
      for (const c of this.conns) {
        if (now - c.lastPong > this.pongTimeoutMs) c.ws.terminate();
        else if (c.ws.readyState === c.ws.OPEN) c.ws.ping();
      }
      this.scheduleKeepalive();
    }, this.pingMs);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const reject = (status: number, text: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    if (this.closed) return reject(503, "Service Unavailable");
    const drop = this.core.faults.peek("ws-drop");
    if (this.core.wallNow() < this.refuseUntil || (drop && drop.until !== undefined))
      return reject(503, "Service Unavailable");
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const ip = req.socket.remoteAddress ?? "unknown";
    let setup: ((ws: WebSocket) => Tracked) | undefined;
    if (path === "/ws-api/v3") {
      const rl = url.searchParams.get("returnRateLimits") !== "false";
      setup = (ws) => this.setupWsApi(ws, ip, rl);
    } else if (path === "/ws" || path.startsWith("/ws/")) {
      const segment = path.length > 4 ? decodeURIComponent(path.slice(4)) : "";
      const initial: string[] = [];
      if (segment !== "" && (parseStreamName(segment) || this.core.listenKeyAccount(segment) !== undefined))
        initial.push(segment);
      // any other last segment (ccxt's /ws/0 stream index) is an empty raw socket
      const problem = this.checkStreams(initial);
      if (problem) return reject(400, problem);
      setup = (ws) => this.setupMarket(ws, false, initial);
    } else if (path === "/stream") {
      const names = (url.searchParams.get("streams") ?? "").split("/").filter((s) => s !== "");
      const problem = this.checkStreams(names);
      if (problem) return reject(400, problem);
      setup = (ws) => this.setupMarket(ws, true, names);
    }
    if (!setup) return reject(404, "Not Found");
    const make = setup;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const t = make(ws);
      this.conns.add(t);
      ws.on("pong", () => (t.lastPong = this.core.wallNow()));
      ws.on("ping", () => (t.lastPong = this.core.wallNow()));
      ws.on("close", () => {
        this.conns.delete(t);
        t.cleanup();
      });
      ws.on("error", () => ws.terminate());
    });
  }

  private checkStreams(names: string[]): string | undefined {
    for (const n of names) {
      if (this.core.listenKeyAccount(n) !== undefined) continue;
      const probe: StreamSink = {
        combined: false,
        streams: new Set(),
        send: () => undefined,
        bufferedAmount: () => 0,
      };
      const e = this.core.streams.subscribe(probe, n);
      this.core.streams.removeSink(probe);
      if (e) return e;
    }
    return undefined;
  }

  private setupWsApi(ws: WebSocket, ip: string, returnRateLimits: boolean): Tracked {
    const conn = new WsApiConnection(this.core, ws, ip, returnRateLimits);
    ws.on("message", (data, isBinary) => {
      if (!isBinary) conn.onMessage(data.toString());
    });
    return {
      ws,
      kind: "ws-api",
      lastPong: this.core.wallNow(),
      cleanup: () => conn.close(),
      listenKeys: new Set(),
    };
  }

  private setupMarket(ws: WebSocket, combined: boolean, initial: string[]): Tracked {
    const core = this.core;
    const sink: StreamSink = {
      combined,
      streams: new Set(),
      send: (text) => {
        if (ws.readyState === ws.OPEN) ws.send(text);
      },
      bufferedAmount: () => ws.bufferedAmount,
    };
    const userSinks = new Map<string, UserSink>();
    const tracked: Tracked = {
      ws,
      kind: "market",
      lastPong: core.wallNow(),
      listenKeys: new Set(),
      cleanup: () => {
        core.streams.removeSink(sink);
        for (const u of userSinks.values()) core.users.remove(u);
      },
    };
    const addUser = (key: string): boolean => {
      const accountId = core.listenKeyAccount(key);
      if (accountId === undefined) return false;
      if (userSinks.has(key)) return true;
      const u: UserSink = {
        accountId,
        deliver: (json) => {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(sink.combined ? `{"stream":${JSON.stringify(key)},"data":${json}}` : json);
        },
      };
      userSinks.set(key, u);
      tracked.listenKeys.add(key);
      core.users.add(u);
      if (tracked.kind === "market" && sink.streams.size === 0) tracked.kind = "user";
      return true;
    };
    const removeUser = (key: string) => {
      const u = userSinks.get(key);
      if (!u) return;
      core.users.remove(u);
      userSinks.delete(key);
      tracked.listenKeys.delete(key);
    };
    for (const n of initial) if (!addUser(n)) core.streams.subscribe(sink, n);
    const reply = (obj: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(obj));
    };
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      let msg: { method?: unknown; params?: unknown; id?: unknown };
      try {
        msg = JSON.parse(data.toString());
      } catch (e) {
        reply({
          error: { code: 3, msg: `Invalid JSON: ${e instanceof Error ? e.message : String(e)}` },
          id: null,
        });
        return;
      }
      const id = msg?.id ?? null;
      if (!(
        id === null ||
        (typeof id === "number" && Number.isInteger(id)) ||
        (typeof id === "string" && ID_RE.test(id))
      )) {
        reply({
          error: {
            code: 1,
            msg: "Invalid value type: expected an integer, a string of up to 36 characters or null for 'id'",
          },
          id: null,
        });
        return;
      }
      const params = msg?.params;
      switch (msg?.method) {
        case "SUBSCRIBE":
        case "UNSUBSCRIBE": {
          if (!Array.isArray(params) || params.some((p) => typeof p !== "string")) {
            reply({
              error: { code: 2, msg: "Invalid request: params must be an array of stream names" },
              id,
            });
            return;
          }
          if (msg.method === "SUBSCRIBE") {
            for (const name of params as string[]) {
              if (addUser(name)) continue;
              const e = core.streams.subscribe(sink, name);
              if (e) {
                reply({ error: { code: 2, msg: e }, id });
                return;
              }
            }
          } else {
            for (const name of params as string[]) {
              removeUser(name);
              core.streams.unsubscribe(sink, name);
            }
          }
          reply({ result: null, id });
          return;
        }
        case "LIST_SUBSCRIPTIONS":
          reply({ result: [...sink.streams, ...userSinks.keys()], id });
          return;
        case "SET_PROPERTY": {
          if (!Array.isArray(params) || params[0] !== "combined" || typeof params[1] !== "boolean") {
            reply({ error: { code: 0, msg: "Unknown property" }, id });
            return;
          }
          sink.combined = params[1];
          reply({ result: null, id });
          return;
        }
        case "GET_PROPERTY": {
          if (!Array.isArray(params) || params[0] !== "combined") {
            reply({ error: { code: 0, msg: "Unknown property" }, id });
            return;
          }
          reply({ result: sink.combined, id });
          return;
        }
        default:
          reply({ error: { code: 2, msg: "Invalid request: unknown method" }, id });
      }
    });
    return tracked;
  }
}

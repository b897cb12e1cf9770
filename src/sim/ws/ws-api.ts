// The WebSocket API at /ws-api/v3, user-data part (docs/exchange-contract.md, User-data stream):
// session.logon (HMAC accepted), userDataStream.subscribe(.signature), unsubscribe,
// session.subscriptions, plus ping/time.
// Events arrive wrapped as {"subscriptionId": n, "event": {...}}.
import type { WebSocket } from "ws";
import { BinanceError, err } from "../binance/errors";
import { hmacHex, signaturesMatch, wsApiPayload } from "../binance/signing";
import { API_KEY_RE, type SimAccount } from "../venue/accounts";
import type { SimCore } from "../venue/venue";
import type { UserSink } from "./user-data";

const MAX_SUBSCRIPTION_ID = 65_535;
const JAN_2017 = 1_483_228_800_000;

interface Subscription {
  id: number;
  account: SimAccount;
  sink: UserSink;
  viaSession: boolean;
}

type Json = Record<string, unknown>;

export class WsApiConnection {
  private session?: { account: SimAccount; since: number };
  private readonly subs = new Map<number, Subscription>();
  private nextSubId = 0;
  private readonly connectedSince: number;

  constructor(
    private readonly core: SimCore,
    private readonly ws: WebSocket,
    private readonly ip: string,
    private readonly returnRateLimits: boolean,
  ) {
    this.connectedSince = core.wallNow();
  }

  close(): void {
    for (const s of this.subs.values()) this.core.users.remove(s.sink);
    this.subs.clear();
  }

  private send(obj: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(obj));
  }

  private rateLimits(): Json[] {
    return [
      {
        rateLimitType: "REQUEST_WEIGHT",
        interval: "MINUTE",
        intervalNum: 1,
        limit: this.core.limiter.config.weightPerMinute,
        count: this.core.limiter.usedWeight(this.ip),
      },
    ];
  }

  onMessage(text: string): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      this.send({ id: null, status: 400, error: { code: -1135, msg: "Invalid JSON Request" } });
      return;
    }
    const id = msg?.id ?? null;
    const params = (msg?.params ?? {}) as Json;
    const wantLimits =
      params.returnRateLimits === undefined
        ? this.returnRateLimits
        : params.returnRateLimits !== false && params.returnRateLimits !== "false";
    const reply = (status: number, payload: Json) =>
      this.send({ id, status, ...payload, ...(wantLimits ? { rateLimits: this.rateLimits() } : {}) });
    try {
      if (typeof msg !== "object" || msg === null || typeof msg.method !== "string")
        throw err.mandatory("method");
      if (typeof params !== "object" || Array.isArray(params))
        throw new BinanceError(-1135, "Invalid JSON Request");
      const weight = msg.method === "ping" || msg.method === "time" ? 1 : 2;
      const limited = this.core.limiter.charge(this.ip, weight);
      if (limited) throw limited;
      const result = this.dispatch(msg.method, params);
      reply(200, { result });
    } catch (e) {
      if (e instanceof BinanceError) reply(e.httpStatus, { error: e.toJSON() });
      else reply(500, { error: { code: -1000, msg: e instanceof Error ? e.message : String(e) } });
    }
  }

  private verify(params: Json): SimAccount {
    const apiKey = params.apiKey;
    if (typeof apiKey !== "string" || apiKey === "") throw err.mandatory("apiKey");
    if (!API_KEY_RE.test(apiKey)) throw err.apiKeyFormat();
    const account = this.core.accounts.get(apiKey);
    if (!account) throw err.rejectedKey();
    const tsRaw = params.timestamp;
    if (tsRaw === undefined || tsRaw === null || tsRaw === "") throw err.mandatory("timestamp");
    let ts = Number(tsRaw);
    if (!Number.isFinite(ts)) throw err.illegalChars("timestamp", "^[0-9]{1,20}$");
    if (ts >= 1e14) ts = Math.floor(ts / 1000);
    const recvWindow = params.recvWindow === undefined ? 5000 : Number(params.recvWindow);
    if (!Number.isFinite(recvWindow)) throw err.illegalChars("recvWindow", "^[0-9]{1,5}(\\.[0-9]{1,3})?$");
    if (recvWindow > 60_000) throw err.tooGreat("recvWindow", "60000");
    const signature = params.signature;
    if (typeof signature !== "string" || signature === "") throw err.mandatory("signature");
    if (!signaturesMatch(hmacHex(account.secretKey, wsApiPayload(params)), signature)) throw err.signature();
    const now = this.core.serverTime();
    if (ts >= now + 1000) throw err.tsAhead();
    if (now - ts > recvWindow || ts < JAN_2017) throw err.tsOutside();
    if (!account.permissions.enableReading) throw err.rejectedKey();
    return account;
  }

  private sessionJson(): Json {
    return {
      apiKey: this.session?.account.apiKey ?? null,
      authorizedSince: this.session?.since ?? null,
      connectedSince: this.connectedSince,
      returnRateLimits: this.returnRateLimits,
      serverTime: this.core.serverTime(),
      userDataStream: [...this.subs.values()].some((s) => s.viaSession),
    };
  }

  private subscribe(account: SimAccount, viaSession: boolean): Json {
    for (const s of this.subs.values())
      if (s.account.id === account.id)
        throw new BinanceError(-2035, "User Data Stream subscription already active.");
    if (this.nextSubId > MAX_SUBSCRIPTION_ID)
      throw new BinanceError(-2042, "Maximum subscription ID reached for this connection.");
    const id = this.nextSubId++;
    const sink: UserSink = {
      accountId: account.id,
      deliver: (json) => {
        if (this.ws.readyState === this.ws.OPEN) this.ws.send(`{"subscriptionId":${id},"event":${json}}`);
      },
    };
    this.subs.set(id, { id, account, sink, viaSession });
    this.core.users.add(sink);
    return { subscriptionId: id };
  }

  private terminate(s: Subscription): void {
    this.core.users.remove(s.sink);
    this.subs.delete(s.id);
    this.send({ subscriptionId: s.id, event: { e: "eventStreamTerminated", E: this.core.replay.now() } });
  }

  private dispatch(method: string, params: Json): unknown {
    switch (method) {
      case "ping":
        return {};
      case "time":
        return { serverTime: this.core.serverTime() };
      case "session.logon": {
        const account = this.verify(params);
        this.session = { account, since: this.core.wallNow() };
        return this.sessionJson();
      }
      case "session.status":
        return this.sessionJson();
      case "session.logout": {
        for (const s of [...this.subs.values()]) if (s.viaSession) this.terminate(s);
        this.session = undefined;
        return this.sessionJson();
      }
      case "userDataStream.subscribe": {
        if (!this.session)
          throw new BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401);
        return this.subscribe(this.session.account, true);
      }
      case "userDataStream.subscribe.signature":
        return this.subscribe(this.verify(params), false);
      case "userDataStream.unsubscribe": {
        const wanted = params.subscriptionId;
        if (wanted === undefined) {
          for (const s of [...this.subs.values()]) this.terminate(s);
          return {};
        }
        const s = this.subs.get(Number(wanted));
        if (!s) throw new BinanceError(-2036, "User Data Stream subscription not active.");
        this.terminate(s);
        return {};
      }
      case "session.subscriptions":
        return [...this.subs.keys()].map((subscriptionId) => ({ subscriptionId }));
      default:
        throw new BinanceError(-1020, `This operation is not supported. Unknown method '${method}'.`);
    }
  }
}

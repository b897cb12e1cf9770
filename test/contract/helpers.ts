// Shared setup for the simulator contract suites: a step-mode simulator on port 0, a ccxt.pro
// binance client pointed at it (URL overrides + the spot-only options of docs/exchange-contract.md), raw
// signed HTTP requests, and a WebSocket client that queues messages for awaiting.
import WebSocket from "ws";
import { createSimulator, hmacHex, type Simulator, type SimulatorOptions, type Timers } from "../../src/sim";

export async function startSim(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await createSimulator({ step: true, from: "2023-06-01", ...opts });
  await sim.listen(0, "127.0.0.1");
  return sim;
}

/**
 * ccxt loaded through Node's own module loader: Jest's loader cannot require ccxt's ESM-only
 * dependencies (@noble/*), Node 20.19+ can. Exception classes must come from this instance.
 */
export const ccxt: any = (() => {
  const { Module } = require("node:module") as { Module: any };
  const m = new Module(__filename);
  m.paths = Module._nodeModulePaths(__dirname);
  return m.require("ccxt");
})();

export async function ccxtFor(
  sim: Simulator,
  creds?: { apiKey: string; secretKey: string },
  extra: Record<string, unknown> = {},
): Promise<any> {
  // Objects made in Jest's VM realm are not "plain" to ccxt's deepExtend (a different Object
  // constructor), so a nested `options` passed to the constructor would replace the defaults
  // instead of merging: set the spot-only options on the instance instead.
  const ex = new ccxt.pro.binance(creds ? { apiKey: creds.apiKey, secret: creds.secretKey } : {});
  Object.assign(ex, extra);
  ex.options.fetchMarkets = { types: ["spot"] };
  ex.options.fetchCurrencies = false;
  ex.options.fetchMargins = false;
  const u = sim.ccxtUrls();
  ex.urls.api.public = u.public;
  ex.urls.api.private = u.private;
  ex.urls.api.v1 = u.v1;
  ex.urls.api.sapi = u.sapi;
  ex.urls.api.ws.spot = u.ws.spot;
  ex.urls.api.ws["ws-api"].spot = u.ws["ws-api"].spot;
  await ex.loadHttpProxyAgent();
  return ex;
}

/** Closes a ccxt client; its still-pending watch futures are rejected on close, so they are caught first. */
export async function closeCcxt(ex: any): Promise<void> {
  if (!ex) return;
  for (const c of Object.values(ex.clients ?? {}) as any[])
    for (const f of Object.values(c.futures ?? {}) as any[]) f?.catch?.(() => undefined);
  await ex.close();
}

/**
 * Timers the test releases by hand: fault delays inside the simulator last until release(), so
 * a client timeout is certain to fire first and nothing depends on real durations.
 */
export class ManualTimers implements Timers {
  private seq = 0;
  private readonly pending = new Map<number, () => void>();
  private watchers: { n: number; resolve: () => void }[] = [];

  setTimeout = (fn: () => void, _ms: number): unknown => {
    const id = ++this.seq;
    this.pending.set(id, fn);
    this.watchers = this.watchers.filter((w) => (this.pending.size >= w.n ? (w.resolve(), false) : true));
    return id;
  };

  clearTimeout = (h: unknown): void => {
    this.pending.delete(h as number);
  };

  /** Resolves once at least n timers are armed (e.g. the server is now holding a response). */
  whenArmed(n = 1): Promise<void> {
    if (this.pending.size >= n) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ n, resolve }));
  }

  armed(): number {
    return this.pending.size;
  }

  releaseAll(): void {
    const fns = [...this.pending.values()];
    this.pending.clear();
    for (const fn of fns) fn();
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A signed REST call built by hand; `split` puts the first params in the query and the rest in the body. */
export async function signed(
  sim: Simulator,
  creds: { apiKey: string; secretKey: string },
  method: string,
  path: string,
  params: Record<string, string | number>,
  opts: {
    split?: number;
    timestamp?: number;
    mutate?: (q: string, b: string, sig: string) => { q: string; b: string; sig: string };
    noTimestamp?: boolean;
  } = {},
): Promise<RawResponse> {
  const all = Object.entries({
    ...params,
    ...(opts.noTimestamp ? {} : { timestamp: opts.timestamp ?? Date.now() }),
  }).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  const inBody = method === "POST" || method === "PUT";
  const cut = opts.split ?? (inBody ? 0 : all.length);
  let q = all.slice(0, cut).join("&");
  let b = all.slice(cut).join("&");
  let sig = hmacHex(creds.secretKey, q + b);
  if (opts.mutate) ({ q, b, sig } = opts.mutate(q, b, sig));
  if (inBody && b !== "") b = `${b}&signature=${sig}`;
  else q = q === "" ? `signature=${sig}` : `${q}&signature=${sig}`;
  return raw(sim, method, `${path}${q ? `?${q}` : ""}`, inBody ? b : undefined, {
    "X-MBX-APIKEY": creds.apiKey,
  });
}

export async function raw(
  sim: Simulator,
  method: string,
  pathAndQuery: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const r = await fetch(sim.baseUrl + pathAndQuery, {
    method,
    headers: {
      ...(body !== undefined ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
      ...headers,
    },
    body,
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status, headers: r.headers, body: parsed };
}

export async function admin(
  sim: Simulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const r = await fetch(`${sim.baseUrl}/sim/v1${path}`, {
    method,
    headers: { ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined };
}

/** A WebSocket whose messages queue up, so a test can await the next one (or one matching a predicate). */
export class WsClient {
  readonly ws: WebSocket;
  private readonly queue: any[] = [];
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void; reject: (e: Error) => void }[] =
    [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number }>;
  pings = 0;

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once("error", reject);
    });
    this.closed = new Promise((resolve) => this.ws.once("close", (code) => resolve({ code })));
    this.ws.on("ping", () => this.pings++);
    this.ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
      else this.queue.push(m);
    });
    this.ws.on("close", () => {
      for (const w of this.waiters.splice(0)) w.reject(new Error("socket closed"));
    });
  }

  next(pred: (m: any) => boolean = () => true): Promise<any> {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => this.waiters.push({ pred, resolve, reject }));
  }

  /** Everything received and not yet taken. */
  drain(): any[] {
    return this.queue.splice(0);
  }

  /**
   * Round trip on a market socket (LIST_SUBSCRIPTIONS): the server answers after everything it
   * already sent, so once the answer is here every earlier message has arrived. Returns them.
   */
  async settle(): Promise<any[]> {
    const id = `barrier-${++this.barriers}`;
    await this.request({ method: "LIST_SUBSCRIPTIONS", id });
    return this.drain();
  }

  private barriers = 0;

  send(obj: unknown): void {
    this.ws.send(JSON.stringify(obj));
  }

  async request(obj: { id: unknown } & Record<string, unknown>): Promise<any> {
    this.send(obj);
    return this.next((m) => m && m.id === obj.id);
  }

  close(): Promise<{ code: number }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }
}

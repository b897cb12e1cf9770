// What a Binance REST route declares: security type, key permission, request weight and how
// many new orders it places; the pipeline in ./server.ts enforces all of it.
import type { IncomingHttpHeaders } from "node:http";
import type { SimAccount } from "../venue/accounts";
import type { SimCore } from "../venue/venue";
import type { Params } from "./params";

export type Security = "NONE" | "SIGNED" | "API_KEY";

export interface RequestContext {
  readonly core: SimCore;
  readonly method: string;
  readonly path: string;
  readonly params: Params;
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
  /** Set for SIGNED and API_KEY routes once the key is verified. */
  account?: SimAccount;
  /** The venue clock for this request (wall clock + clock-offset fault), read once. */
  serverTime(): number;
}

export interface RouteResult {
  body: unknown;
  status?: number;
  headers?: Record<string, string>;
  /** Orders created (drives the order-not-found fault). */
  placedOrderIds?: number[];
}

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  security: Security;
  /** Key permission needed: reading (USER_DATA) or spot trading (TRADE). */
  permission?: "read" | "trade";
  weight: number | ((p: Params) => number);
  /** New orders the request places; checked against the order-rate limits before it runs. */
  orderCount?: number;
  handler(ctx: RequestContext): RouteResult;
}

export const ok = (body: unknown): RouteResult => ({ body });

// The exchange boundary: ccxt exceptions become AURA's core error taxonomy (src/core/model/errors)
// here and nowhere else, so services decide on `retryable` and `code`, never on ccxt class names.
import {
  AuraError,
  ExchangeUnavailableError,
  FilterRejectedError,
  InsufficientBalanceError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
} from "../../core/model/errors";
import { ccxtModule } from "./ccxt-loader";

export interface TranslateOptions {
  /**
   * True for reads and other requests that may safely be sent again. A timeout or dropped
   * connection on a non-idempotent request (an order) has an unknown outcome and is never
   * marked retryable.
   */
  idempotent: boolean;
  /** response headers of the failed request (ccxt's last_response_headers), for Retry-After */
  headers?: Record<string, unknown>;
}

/** HTTP status ccxt embeds in its messages ("binance 429 Too Many Requests {...}"). */
export function httpStatusOf(err: unknown): number | undefined {
  const m = /\b(4\d\d|5\d\d)\b/.exec(String((err as Error)?.message ?? ""));
  return m ? Number(m[1]) : undefined;
}

export function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers))
    if (k.toLowerCase() === want && v !== undefined && v !== null) return String(v);
  return undefined;
}

/** Retry-After in ms (Binance sends seconds); undefined when absent or unreadable. */
export function retryAfterMs(headers: Record<string, unknown> | undefined): number | undefined {
  const raw = header(headers, "retry-after");
  if (raw === undefined) return undefined;
  const s = Number(raw);
  return Number.isFinite(s) && s >= 0 ? Math.ceil(s * 1000) : undefined;
}

/** Did the request never leave this machine (so even an order may be re-sent)? */
function neverSent(err: Error): boolean {
  return /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ConnectionRefused|FailedToOpenSocket|DNSError/.test(err.message);
}

function clean(msg: string): string {
  // ccxt prefixes "binance GET http://…/api/v3/klines?…": keep the venue's own words short
  return msg.length > 500 ? msg.slice(0, 500) + "…" : msg;
}

export function translateExchangeError(err: unknown, opts: TranslateOptions): Error {
  if (err instanceof AuraError) return err;
  const ccxt = ccxtModule();
  if (!(err instanceof ccxt.BaseError)) return err instanceof Error ? err : new Error(String(err));
  const msg = clean(err.message);
  const e = err as Error;
  if (err instanceof ccxt.DDoSProtection || err instanceof ccxt.RateLimitExceeded) {
    const status = httpStatusOf(err);
    const r = new RateLimitedError(
      status === 418
        ? `exchange banned this IP for too much request weight: ${msg}`
        : `exchange rate limit: ${msg}`,
      retryAfterMs(opts.headers),
    );
    (r as { details: unknown }).details = { retryAfterMs: r.retryAfterMs, status };
    return r;
  }
  if (err instanceof ccxt.RequestTimeout) {
    return new TimeoutError(`exchange request timed out: ${msg}`, { retryable: opts.idempotent, cause: e });
  }
  if (err instanceof ccxt.InvalidNonce) {
    return new TimeoutError(`exchange rejected the request timestamp (clock skew): ${msg}`, {
      retryable: opts.idempotent,
      cause: e,
    });
  }
  if (err instanceof ccxt.NetworkError || err instanceof ccxt.BadResponse) {
    if (opts.idempotent || neverSent(e))
      return new ExchangeUnavailableError(`exchange unavailable: ${msg}`, e);
    return new TimeoutError(`exchange request outcome unknown: ${msg}`, { retryable: false, cause: e });
  }
  if (err instanceof ccxt.AuthenticationError)
    return new UnauthorizedError(`exchange rejected the API key: ${msg}`);
  if (err instanceof ccxt.InsufficientFunds)
    return new InsufficientBalanceError(`insufficient balance: ${msg}`);
  if (err instanceof ccxt.OrderNotFound) return new NotFoundError(`order not found on the exchange: ${msg}`);
  if (err instanceof ccxt.InvalidOrder)
    return new FilterRejectedError(`order rejected by the exchange: ${msg}`);
  if (err instanceof ccxt.BadSymbol) return new NotFoundError(`unknown symbol on the exchange: ${msg}`);
  if (err instanceof ccxt.BadRequest || err instanceof ccxt.ArgumentsRequired)
    return new AuraError("VALIDATION_FAILED", `exchange rejected the request: ${msg}`, { cause: e });
  if (err instanceof ccxt.OperationRejected)
    return new AuraError("CONFLICT", `exchange refused the operation: ${msg}`, { cause: e });
  if (err instanceof ccxt.OperationFailed)
    return new ExchangeUnavailableError(`exchange operation failed: ${msg}`, e);
  return new AuraError("EXCHANGE_UNAVAILABLE", `exchange error: ${msg}`, { retryable: false, cause: e });
}

// Maps the core error taxonomy onto Moleculer errors at the service boundary, so the gateway
// answers with the right HTTP status and the broker's breaker/retry see `retryable` correctly.
import { Errors } from "moleculer";
import { AuraError, RateLimitedError, type ErrorCode } from "../core/model/errors";

const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  EXCHANGE_UNAVAILABLE: 503,
  TIMEOUT: 504,
  INSUFFICIENT_BALANCE: 400,
  FILTER_REJECTED: 400,
  RISK_REJECTED: 400,
  INVARIANT_VIOLATION: 500,
};

export function toMoleculerError(err: unknown): unknown {
  if (!(err instanceof AuraError)) return err;
  const status = STATUS[err.code] ?? 500;
  if (status >= 500) {
    const e = err.retryable
      ? new Errors.MoleculerRetryableError(err.message, status, err.code, err.details)
      : new Errors.MoleculerServerError(err.message, status, err.code, err.details);
    if (!err.retryable) e.retryable = false;
    return e;
  }
  if (err instanceof RateLimitedError) {
    // the gateway turns data.retryAfter (seconds) into the Retry-After header
    const retryAfter = Math.max(1, Math.ceil((err.retryAfterMs ?? 60_000) / 1000));
    return new Errors.MoleculerClientError(err.message, status, err.code, { retryAfter });
  }
  return new Errors.MoleculerClientError(err.message, status, err.code, err.details);
}

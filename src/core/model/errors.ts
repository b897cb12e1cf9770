// The core's one error taxonomy. Every error carries a stable `code` and says whether retrying
// the same operation can succeed (`retryable`); services map these onto Moleculer errors so the
// broker's retry and breaker policies work without extra code.

export type ErrorCode =
  | "VALIDATION_FAILED"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "EXCHANGE_UNAVAILABLE"
  | "TIMEOUT"
  | "INSUFFICIENT_BALANCE"
  | "FILTER_REJECTED"
  | "RISK_REJECTED"
  | "INVARIANT_VIOLATION";

/** One precise problem with an input document, located by a JSON Pointer (RFC 6901). */
export interface ValidationIssue {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

export interface AuraErrorOptions {
  readonly retryable?: boolean;
  readonly details?: unknown;
  readonly cause?: unknown;
}

export class AuraError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, opts: AuraErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
}

/** Bad input (a strategy definition, backtest options, request params). Never retryable. */
export class ValidationError extends AuraError {
  readonly issues: readonly ValidationIssue[];
  constructor(issues: readonly ValidationIssue[], message?: string) {
    super("VALIDATION_FAILED", message ?? formatIssues(issues), { details: issues });
    this.issues = issues;
  }
}

export class NotFoundError extends AuraError {
  constructor(message: string, details?: unknown) {
    super("NOT_FOUND", message, { details });
  }
}

export class ConflictError extends AuraError {
  constructor(message: string, details?: unknown) {
    super("CONFLICT", message, { details });
  }
}

export class UnauthorizedError extends AuraError {
  constructor(message = "authentication required") {
    super("UNAUTHORIZED", message);
  }
}

export class ForbiddenError extends AuraError {
  constructor(message = "forbidden") {
    super("FORBIDDEN", message);
  }
}

/** The venue (or our own governor) refused for rate reasons; retry after the given delay. */
export class RateLimitedError extends AuraError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super("RATE_LIMITED", message, { retryable: true, details: { retryAfterMs } });
    this.retryAfterMs = retryAfterMs;
  }
}

export class ExchangeUnavailableError extends AuraError {
  constructor(message: string, cause?: unknown) {
    super("EXCHANGE_UNAVAILABLE", message, { retryable: true, cause });
  }
}

/**
 * The outcome of a request is unknown. Retryable only for idempotent reads; an order whose
 * placement timed out must be looked up by its client order id, never re-sent blindly.
 */
export class TimeoutError extends AuraError {
  constructor(message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super("TIMEOUT", message, { retryable: opts.retryable ?? false, cause: opts.cause });
  }
}

/** Business rejections: results a user sees, not crashes. */
export class InsufficientBalanceError extends AuraError {
  constructor(message: string, details?: unknown) {
    super("INSUFFICIENT_BALANCE", message, { details });
  }
}

export class FilterRejectedError extends AuraError {
  constructor(message: string, details?: unknown) {
    super("FILTER_REJECTED", message, { details });
  }
}

export class RiskRejectedError extends AuraError {
  constructor(message: string, details?: unknown) {
    super("RISK_REJECTED", message, { details });
  }
}

/** A broken invariant: fatal and loud. The process should crash, restart and reconcile. */
export class InvariantViolation extends AuraError {
  readonly fatal = true;
  constructor(message: string, details?: unknown) {
    super("INVARIANT_VIOLATION", message, { details });
  }
}

export function formatIssues(issues: readonly ValidationIssue[]): string {
  if (issues.length === 0) return "invalid input";
  return issues.map((i) => `${i.path || "/"}: ${i.message} (${i.code})`).join("\n");
}

// What AURA does with a promise rejection nobody handled. ccxt.pro rejects its own internal
// futures (the user-data stream's subscription and authentication, pending ws requests) when the
// venue answers a socket with an error such as a rate limit; nothing in AURA holds those promises,
// and the stream's own loop already sees the same failure and reconnects with backoff. Those are
// logged and survived. Anything else is a bug: the process logs it and exits, and its supervisor
// restarts it (execution then reconciles before it takes orders again).

/** ccxt's error classes (ccxt sets `name` to the class name), all of them about the venue. */
const VENUE_ERRORS = new Set([
  "ExchangeError",
  "AuthenticationError",
  "PermissionDenied",
  "AccountNotEnabled",
  "AccountSuspended",
  "BadRequest",
  "BadSymbol",
  "BadResponse",
  "NullResponse",
  "InsufficientFunds",
  "InvalidOrder",
  "OrderNotFound",
  "OperationRejected",
  "OperationFailed",
  "NetworkError",
  "DDoSProtection",
  "RateLimitExceeded",
  "ExchangeNotAvailable",
  "OnMaintenance",
  "InvalidNonce",
  "RequestTimeout",
  "ExchangeClosedByUser",
  "ChecksumError",
  "UnsubscribeError",
]);

/** True for a rejection from an exchange client about the venue (survivable), false for a bug. */
export function isVenueRejection(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  return VENUE_ERRORS.has(reason.name) && VENUE_ERRORS.has(reason.constructor?.name ?? "");
}

export interface RejectionLog {
  warn(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

/** Installs the policy above; `exit` is how a bug ends the process. */
export function handleUnhandledRejections(log: RejectionLog, exit: (code: number) => void): () => void {
  const handler = (reason: unknown) => {
    // a request URL in a client's message keeps its path, never its signed query string
    const err = (reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)).replace(
      /\?[^\s"']*/g,
      "?…",
    );
    // 300 characters keep a log line readable
    if (isVenueRejection(reason)) {
      log.warn(
        { err: err.slice(0, 300) },
        "an exchange client rejected a promise nobody awaited; continuing",
      );
      return;
    }
    log.fatal({ err: err.slice(0, 300) }, "unhandled promise rejection; exiting");
    exit(1);
  };
  process.on("unhandledRejection", handler);
  return () => process.off("unhandledRejection", handler);
}

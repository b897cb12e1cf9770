// Reconnect and retry delays: exponential growth with jitter, so many clients that lost the same
// exchange at the same moment do not come back in lockstep.

export interface BackoffOptions {
  /** first delay ceiling (attempt 0) */
  baseMs: number;
  /** the ceiling never grows beyond this */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * "Equal jitter": half of the exponential ceiling is fixed, the other half random. Never 0, so a
 * flapping endpoint is not hammered, and spread enough to break synchrony.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

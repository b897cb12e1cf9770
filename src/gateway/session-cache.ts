// What the gateway must know about a token beyond the signature: is the account active, what is
// its role now, and is the token's session (`sid`, a refresh-token family) a live session of that
// very user — not revoked, not another user's, not made up. Kept per gateway process for a few
// seconds per (user, session), so verifying a token costs no database round trip on the hot path;
// the auth service broadcasts "auth.session.changed" on logout, password change, reuse detection,
// disable and role change, which drops every entry of that user at once. The TTL bounds staleness
// when such an event is lost.
//
// Entries are per (user, session) rather than one per user listing all of its sessions, so an
// account with thousands of sessions costs no more to look up than one with a single session.
export interface SessionStateWire {
  id: number;
  email: string;
  role: "user" | "admin";
  status: "active" | "disabled" | "missing";
  /** the session asked about */
  sid: string;
  /** whether `sid` is a session of this user that has not been revoked */
  sessionLive: boolean;
}

export interface SessionState extends SessionStateWire {
  expiresAt: number;
}

export class SessionStateCache {
  private readonly entries = new Map<string, SessionState>();
  private readonly inflight = new Map<string, Promise<SessionState>>();
  /** cache keys per user, so invalidate(userId) finds every session of that user */
  private readonly keysByUser = new Map<string, Set<string>>();
  /** bumped by invalidate() so a fetch that started before it is not cached */
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly fetchState: (userId: string, sid: string) => Promise<SessionStateWire>,
    private readonly ttlMs: number,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(userId: string, sid: string): SessionState | Promise<SessionState> {
    const key = `${userId} ${sid}`;
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > this.now()) return hit;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const gen = this.generation.get(userId) ?? 0;
    const p = this.fetchState(userId, sid)
      .then((w) => {
        // an answer about another user or session than asked is treated as "not live"
        const state: SessionState = {
          ...w,
          sessionLive: w.sessionLive === true && String(w.id) === userId && w.sid === sid,
          expiresAt: this.now() + this.ttlMs,
        };
        if ((this.generation.get(userId) ?? 0) === gen) this.store(userId, key, state);
        return state;
      })
      .finally(() => {
        if (this.inflight.get(key) === p) this.inflight.delete(key);
      });
    this.inflight.set(key, p);
    return p;
  }

  private store(userId: string, key: string, state: SessionState): void {
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      const owner = oldest.slice(0, oldest.indexOf(" "));
      const keys = this.keysByUser.get(owner);
      keys?.delete(oldest);
      if (keys && keys.size === 0) this.keysByUser.delete(owner);
    }
    this.entries.set(key, state);
    let keys = this.keysByUser.get(userId);
    if (!keys) this.keysByUser.set(userId, (keys = new Set()));
    keys.add(key);
  }

  invalidate(userId: string): void {
    for (const key of this.keysByUser.get(userId) ?? []) this.entries.delete(key);
    this.keysByUser.delete(userId);
    const prefix = `${userId} `;
    for (const key of [...this.inflight.keys()]) if (key.startsWith(prefix)) this.inflight.delete(key);
    this.generation.set(userId, (this.generation.get(userId) ?? 0) + 1);
    if (this.generation.size > this.maxEntries) this.generation.clear();
  }

  /** Entries currently cached (tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.inflight.clear();
    this.keysByUser.clear();
  }
}

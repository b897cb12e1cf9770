// What the gateway must know about a token's user beyond the signature: is the account active,
// what is its role now, which of its sessions were revoked. Kept per gateway process for a few
// seconds, so verifying a token costs no database round trip on the hot path; the auth service
// broadcasts "auth.session.changed" on logout, password change, disable and role change, which
// drops the entry at once. The TTL bounds staleness when such an event is lost.
export interface SessionStateWire {
  id: number;
  email: string;
  role: "user" | "admin";
  status: "active" | "disabled" | "missing";
  revokedSids: string[];
}

export interface SessionState extends Omit<SessionStateWire, "revokedSids"> {
  revokedSids: Set<string>;
  expiresAt: number;
}

export class SessionStateCache {
  private readonly entries = new Map<string, SessionState>();
  private readonly inflight = new Map<string, Promise<SessionState>>();
  /** bumped by invalidate() so a fetch that started before it is not cached */
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly fetchState: (userId: string) => Promise<SessionStateWire>,
    private readonly ttlMs: number,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(userId: string): SessionState | Promise<SessionState> {
    const hit = this.entries.get(userId);
    if (hit && hit.expiresAt > this.now()) return hit;
    const pending = this.inflight.get(userId);
    if (pending) return pending;
    const gen = this.generation.get(userId) ?? 0;
    const p = this.fetchState(userId)
      .then((w) => {
        const state: SessionState = {
          ...w,
          revokedSids: new Set(w.revokedSids),
          expiresAt: this.now() + this.ttlMs,
        };
        if ((this.generation.get(userId) ?? 0) === gen) {
          if (this.entries.size >= this.maxEntries)
            this.entries.delete(this.entries.keys().next().value as string);
          this.entries.set(userId, state);
        }
        return state;
      })
      .finally(() => this.inflight.delete(userId));
    this.inflight.set(userId, p);
    return p;
  }

  invalidate(userId: string): void {
    this.entries.delete(userId);
    this.inflight.delete(userId);
    this.generation.set(userId, (this.generation.get(userId) ?? 0) + 1);
    if (this.generation.size > this.maxEntries) this.generation.clear();
  }

  clear(): void {
    this.entries.clear();
    this.inflight.clear();
  }
}

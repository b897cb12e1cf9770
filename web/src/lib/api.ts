// The dashboard's API client. It owns the access token, in memory only (never in storage, where
// any injected script could read it back later); the refresh token is an HttpOnly cookie the
// gateway sets and this code never sees.
//
// Refresh tokens rotate and reusing a rotated one ends the session (docs/security.md), so a
// refresh must never run twice at once with the same cookie:
// - within a tab, every caller that needs a refresh awaits the one in flight;
// - across tabs, refreshes run under one Web Lock, and a tab that refreshed shares the new access
//   token over a BroadcastChannel, so a tab that waited for the lock usually needs no refresh.
// A refresh is never retried blindly: a 401 ends the session on this side too.

export interface User {
  id: number;
  email: string;
  role: "user" | "admin";
}

export interface ErrorBody {
  error?: { code?: string; message?: string; details?: unknown; requestId?: string };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** A failure field by field, for forms: { field: message }. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(this.details))
      for (const d of this.details as { field?: unknown; message?: unknown }[])
        if (typeof d?.field === "string" && typeof d.message === "string") out[d.field] = d.message;
    return out;
  }
}

/** Thrown when the session is over: the caller sends the user to the login page. */
export class SessionEndedError extends ApiError {
  constructor() {
    super(401, "UNAUTHORIZED", "Your session has ended. Please sign in again.");
    this.name = "SessionEndedError";
  }
}

export interface TokenState {
  token: string;
  /** epoch ms */
  issuedAt: number;
  /** epoch ms */
  expiresAt: number;
  user: User;
}

type ChannelMessage = { type: "token"; state: TokenState } | { type: "signedOut" };

export interface MessageChannelLike {
  postMessage(msg: ChannelMessage): void;
  onmessage: ((ev: { data: ChannelMessage }) => void) | null;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface ApiClientOptions {
  /** origin + path prefix of the API; "" = this origin */
  base?: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** runs fn while holding a lock shared by every tab (navigator.locks) */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  channel?: MessageChannelLike;
  /** where known-device tokens live (localStorage) */
  store?: KeyValueStore;
  /** refresh when the token has less than this left, ms */
  refreshMarginMs?: number;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
}

const SESSION_HEADER = { "X-Aura-Session": "cookie" } as const;
const DEVICE_TOKENS_KEY = "aura.deviceTokens";
const MAX_DEVICE_TOKENS = 10;
const LOCK_NAME = "aura-refresh";

/** An error envelope (or anything else) as an ApiError. */
export async function toApiError(res: Response): Promise<ApiError> {
  let body: ErrorBody | undefined;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    body = undefined;
  }
  const e = body?.error;
  const message =
    e?.message ??
    (res.status === 429
      ? "Too many requests; try again shortly."
      : res.status >= 500
        ? "The server could not answer; try again shortly."
        : `Request failed (${res.status}).`);
  return new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, message, e?.details, e?.requestId);
}

export class ApiClient {
  private state: TokenState | null = null;
  private refreshing: Promise<boolean> | null = null;
  /** bumped whenever a token arrives (here or from another tab) */
  private generation = 0;
  private readonly listeners = new Set<(s: TokenState | null) => void>();
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly lockFn: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  private readonly margin: number;

  constructor(private readonly o: ApiClientOptions = {}) {
    this.base = o.base ?? "";
    this.fetchFn = o.fetch ?? ((...args) => fetch(...args));
    this.now = o.now ?? Date.now;
    this.lockFn = o.lock ?? ((_n, fn) => fn());
    this.margin = o.refreshMarginMs ?? 5_000;
    if (o.channel) {
      o.channel.onmessage = (ev) => {
        const m = ev.data;
        if (m?.type === "token") {
          if (!this.state || m.state.expiresAt > this.state.expiresAt) this.setState(m.state, false);
        } else if (m?.type === "signedOut") this.setState(null, false);
      };
    }
  }

  get user(): User | null {
    return this.state?.user ?? null;
  }

  get expiresAt(): number | null {
    return this.state?.expiresAt ?? null;
  }

  /** Called with the new state whenever the token changes or the session ends. */
  subscribe(fn: (s: TokenState | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async register(email: string, password: string): Promise<User> {
    const res = await this.raw("POST", "/auth/register", { body: { email, password } });
    return ((await res.json()) as { user: User }).user;
  }

  async login(email: string, password: string): Promise<User> {
    const deviceToken = this.deviceToken(email);
    const res = await this.raw("POST", "/auth/login", {
      body: { email, password, ...(deviceToken ? { deviceToken } : {}) },
      headers: SESSION_HEADER,
    });
    const body = (await res.json()) as {
      accessToken: string;
      expiresIn: number;
      user: User;
      deviceToken?: string;
    };
    if (body.deviceToken) this.rememberDevice(email, body.deviceToken);
    this.accept(body);
    return body.user;
  }

  /** Ends the session on the server (and the cookie with it), then here and in every tab. */
  async logout(): Promise<void> {
    try {
      const token = await this.freshToken();
      if (token) {
        await this.fetchFn(this.url("/auth/logout"), {
          method: "POST",
          credentials: "same-origin",
          headers: {
            Authorization: `Bearer ${token}`,
            "Content-Type": "application/json",
            ...SESSION_HEADER,
          },
          body: "{}",
        });
      }
    } catch {
      // the session ends here whatever the server said
    }
    this.setState(null, true);
  }

  /** After a page load: the session the refresh cookie still holds, or null. */
  async restore(): Promise<User | null> {
    if (this.state && this.state.expiresAt - this.now() > this.margin) return this.state.user;
    return (await this.refresh()) ? this.user : null;
  }

  /** Changes the password; every other session ends and this one continues in a new one. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const body = await this.request<{ accessToken: string; expiresIn: number; user: User }>(
      "POST",
      "/auth/password",
      { body: { currentPassword, newPassword } },
      SESSION_HEADER,
    );
    this.accept(body);
  }

  /** An access token valid for at least the margin, refreshed if needed; null when signed out. */
  async freshToken(minValidityMs = this.margin): Promise<string | null> {
    return (await this.freshState(minValidityMs))?.token ?? null;
  }

  /** The token state valid for at least minValidityMs, refreshed if needed; null when signed out. */
  async freshState(minValidityMs = this.margin): Promise<TokenState | null> {
    if (this.state && this.state.expiresAt - this.now() > minValidityMs) return this.state;
    return (await this.refresh(minValidityMs)) ? this.state : null;
  }

  /**
   * One refresh at a time in this tab and across tabs. Resolves true with a fresh token, false
   * when the session is over; throws when the server could not answer (429, 5xx, network), in
   * which case the session is kept and the caller may try again later.
   */
  refresh(minValidityMs = this.margin): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const seen = this.generation;
    const run = async (): Promise<boolean> => {
      // another tab may have refreshed while this one waited for the lock
      if (this.generation !== seen && this.state && this.state.expiresAt - this.now() > minValidityMs)
        return true;
      const res = await this.fetchFn(this.url("/auth/refresh"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", ...SESSION_HEADER },
        body: "{}",
      });
      if (res.ok) {
        this.accept((await res.json()) as { accessToken: string; expiresIn: number; user: User });
        return true;
      }
      if (res.status === 401) {
        this.setState(null, true);
        return false;
      }
      throw await toApiError(res);
    };
    this.refreshing = this.lockFn(LOCK_NAME, run).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { query, signal });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, { body: body ?? {} });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path, {});
  }

  /**
   * An authenticated call. An expired token is refreshed first; a 401 gets one refresh and one
   * retry (the token may have been revoked a moment ago); a second 401 ends the session.
   */
  async request<T>(
    method: string,
    path: string,
    opts: RequestOptions = {},
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    let token = await this.freshToken();
    if (!token) throw new SessionEndedError();
    let res = await this.send(method, path, opts, token, extraHeaders);
    if (res.status === 401) {
      const failed = token;
      // a newer token may have arrived meanwhile (another caller's refresh): use it first
      token =
        this.state && this.state.token !== failed
          ? this.state.token
          : (await this.refresh())
            ? this.state!.token
            : null;
      if (!token) throw new SessionEndedError();
      res = await this.send(method, path, opts, token, extraHeaders);
      if (res.status === 401) {
        this.setState(null, true);
        throw new SessionEndedError();
      }
    }
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  // --- internals

  private url(path: string, query?: Query): string {
    let u = `${this.base}/api/v1${path}`;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query))
        if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
      const s = q.toString();
      if (s) u += `?${s}`;
    }
    return u;
  }

  private send(
    method: string,
    path: string,
    opts: RequestOptions,
    token: string,
    extraHeaders: Record<string, string>,
  ): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...extraHeaders };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    return this.fetchFn(this.url(path, opts.query), {
      method,
      credentials: "same-origin",
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    });
  }

  /** An unauthenticated call (register, login). */
  private async raw(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string> },
  ): Promise<Response> {
    const res = await this.fetchFn(this.url(path), {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", ...(opts.headers ?? {}) },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  private accept(body: { accessToken: string; expiresIn: number; user: User }): void {
    const now = this.now();
    this.setState(
      { token: body.accessToken, issuedAt: now, expiresAt: now + body.expiresIn * 1000, user: body.user },
      true,
    );
  }

  private setState(s: TokenState | null, announce: boolean): void {
    const wasSignedIn = this.state !== null;
    this.state = s;
    if (s) this.generation++;
    if (announce && this.o.channel && (s || wasSignedIn)) {
      this.o.channel.postMessage(s ? { type: "token", state: s } : { type: "signedOut" });
    }
    for (const fn of this.listeners) fn(s);
  }

  // Known-device tokens (docs/security.md) live in localStorage: they prove nothing without the
  // password, must outlive logout and browser restarts to be of any use, and are per account.
  private deviceToken(email: string): string | undefined {
    return this.deviceTokens()[normaliseEmail(email)];
  }

  private rememberDevice(email: string, token: string): void {
    const all = this.deviceTokens();
    delete all[normaliseEmail(email)];
    all[normaliseEmail(email)] = token;
    const keys = Object.keys(all);
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_DEVICE_TOKENS))) delete all[k];
    try {
      this.o.store?.setItem(DEVICE_TOKENS_KEY, JSON.stringify(all));
    } catch {
      // storage full or disabled: the account lockout simply applies to this browser
    }
  }

  private deviceTokens(): Record<string, string> {
    try {
      const raw = this.o.store?.getItem(DEVICE_TOKENS_KEY);
      const parsed: unknown = raw ? JSON.parse(raw) : {};
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
      const out: Record<string, string> = Object.create(null);
      for (const [k, v] of Object.entries(parsed)) if (typeof v === "string") out[k] = v;
      return out;
    } catch {
      return {};
    }
  }
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

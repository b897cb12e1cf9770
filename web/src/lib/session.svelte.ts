// The signed-in state shared by every page of a tab: the API client (access token in memory), the
// live channel, and display preferences, as reactive $state.
//
// It exists in the browser only. The app renders on the client (ssr = false in the root layout),
// and session() refuses to run on the server, so a server process never holds one user's session
// where another user's request could see it.
import { browser } from "$app/environment";
import { goto } from "$app/navigation";
import { error, redirect } from "@sveltejs/kit";
import { ApiClient, ApiError, SessionEndedError, type MessageChannelLike, type User } from "./api";
import type { TimeZoneMode } from "./format";
import { LiveClient, type LiveStatus } from "./live";

const ZONE_KEY = "aura.timeZone";

class Session {
  user = $state<User | null>(null);
  live = $state<LiveStatus>("idle");
  zone = $state<TimeZoneMode>("utc");
  readonly api: ApiClient;
  readonly channel: LiveClient;
  private restoring: Promise<User | null> | null = null;
  private leaving = false;

  constructor() {
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    let bc: MessageChannelLike | undefined;
    try {
      bc = new BroadcastChannel("aura-session") as unknown as MessageChannelLike;
    } catch {
      bc = undefined;
    }
    this.api = new ApiClient({
      store: safeStorage(),
      channel: bc,
      // Web Locks need a secure context (https, or http on localhost); elsewhere refreshes are
      // single-flight within the tab only
      lock: locks
        ? <T>(name: string, fn: () => Promise<T>) => locks.request(name, fn) as Promise<T>
        : undefined,
    });
    this.channel = new LiveClient({
      url: () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/v1/live`,
      token: async (min, force) =>
        force ? ((await this.api.refresh(0)) ? this.api.freshState(0) : null) : this.api.freshState(min),
      onStatus: (s) => (this.live = s),
    });
    this.api.subscribe((s) => {
      this.channel.tokenChanged(s);
      const wasSignedIn = this.user !== null;
      this.user = s?.user ?? null;
      // the session ended somewhere else (another tab, a revoked refresh): back to the login page
      if (!s && wasSignedIn && !this.leaving) void toLogin();
    });
    const z = safeStorage()?.getItem(ZONE_KEY);
    if (z === "utc" || z === "local") this.zone = z;
  }

  /** The signed-in user, restoring the session from the refresh cookie after a page load. */
  restore(): Promise<User | null> {
    if (this.user) return Promise.resolve(this.user);
    // concurrent loads share one restore, so a page load costs one refresh
    this.restoring ??= this.api.restore().finally(() => (this.restoring = null));
    return this.restoring;
  }

  async login(email: string, password: string): Promise<User> {
    const u = await this.api.login(email, password);
    this.user = u;
    return u;
  }

  async logout(): Promise<void> {
    this.leaving = true;
    try {
      this.channel.stop();
      await this.api.logout();
    } finally {
      this.leaving = false;
    }
  }

  setZone(z: TimeZoneMode): void {
    this.zone = z;
    safeStorage()?.setItem(ZONE_KEY, z);
  }
}

let instance: Session | undefined;

export function session(): Session {
  if (!browser) throw new Error("the session lives in the browser only");
  return (instance ??= new Session());
}

function safeStorage(): Storage | undefined {
  try {
    return typeof localStorage !== "undefined" ? localStorage : undefined;
  } catch {
    return undefined;
  }
}

/** Where the login page sends the user back to: a path of this app, nothing else. */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next.startsWith("/login") || next.startsWith("/register")) return "/";
  return next;
}

export function loginUrl(from: URL | Location): string {
  const here = from.pathname + from.search;
  return here === "/" ? "/login" : `/login?next=${encodeURIComponent(here)}`;
}

async function toLogin(): Promise<void> {
  if (location.pathname.startsWith("/login") || location.pathname.startsWith("/register")) return;
  await goto(loginUrl(location), { replaceState: true });
}

/**
 * Runs a load's API calls; an ended session redirects to the login page (and back here after
 * it), any other API failure becomes the page's error with the server's message.
 */
export async function guard<T>(url: URL, fn: (s: Session) => Promise<T>): Promise<T> {
  try {
    return await fn(session());
  } catch (e) {
    if (e instanceof SessionEndedError) redirect(303, loginUrl(url));
    if (e instanceof ApiError) error(e.status, { message: e.message, code: e.code });
    throw e;
  }
}

/** For event handlers: an ended session goes to the login page; other errors are returned. */
export function handleActionError(e: unknown): string {
  if (e instanceof SessionEndedError) {
    void toLogin();
    return e.message;
  }
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

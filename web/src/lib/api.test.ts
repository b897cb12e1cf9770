// The API client against a fake gateway that rotates refresh tokens with reuse detection exactly as
// the auth service does: a refresh presenting an already rotated token ends the session. Single
// flight must hold within a tab and across tabs sharing one cookie jar.
import { describe, expect, test } from "@jest/globals";
import {
  ApiClient,
  SessionEndedError,
  type ApiError,
  type KeyValueStore,
  type MessageChannelLike,
} from "./api";

interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** One browser: a cookie jar shared by its tabs, and a gateway with rotating refresh tokens. */
class FakeGateway {
  cookie: string | undefined;
  /** the one refresh token that may be used next; anything else is reuse */
  private current: string | undefined;
  private seq = 0;
  revoked = false;
  calls: Call[] = [];
  /** access tokens the server accepts */
  valid = new Set<string>();
  refreshDelayMs = 5;
  now = () => this.clock;
  clock = 1_000_000;
  ttlSec = 30;

  login(): { accessToken: string; expiresIn: number } {
    this.current = `art_${++this.seq}`;
    this.cookie = this.current;
    const accessToken = `at_${this.seq}`;
    this.valid.add(accessToken);
    return { accessToken, expiresIn: this.ttlSec };
  }

  fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const path = url.replace(/^.*\/api\/v1/, "").split("?")[0];
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    this.calls.push({ method: init?.method ?? "GET", path, headers, body });
    const json = (status: number, b: unknown) =>
      new Response(b === undefined ? null : JSON.stringify(b), {
        status,
        headers: { "content-type": "application/json" },
      });
    const user = { id: 1, email: "a@example.com", role: "user" };
    if (path === "/auth/login") {
      if (body.password !== "right")
        return json(401, { error: { code: "UNAUTHORIZED", message: "Invalid email or password." } });
      return json(200, {
        ...this.login(),
        tokenType: "Bearer",
        user,
        deviceToken: `adt1.device.${body.email}`,
      });
    }
    if (path === "/auth/refresh") {
      const presented = this.cookie;
      await new Promise((r) => setTimeout(r, this.refreshDelayMs));
      if (this.revoked || !presented)
        return json(401, { error: { code: "UNAUTHORIZED", message: "Invalid or expired refresh token." } });
      if (presented !== this.current) {
        // reuse: the whole family is revoked
        this.revoked = true;
        this.cookie = undefined;
        return json(401, { error: { code: "UNAUTHORIZED", message: "Invalid or expired refresh token." } });
      }
      const t = this.login();
      return json(200, { ...t, tokenType: "Bearer", user });
    }
    if (path === "/auth/logout") {
      this.revoked = true;
      this.cookie = undefined;
      return json(204, undefined);
    }
    const auth = headers.Authorization?.replace("Bearer ", "");
    if (!auth || !this.valid.has(auth) || this.revoked)
      return json(401, { error: { code: "UNAUTHORIZED", message: "Invalid or expired access token." } });
    if (path === "/boom")
      return json(400, {
        error: {
          code: "VALIDATION_ERROR",
          message: "Invalid request parameters.",
          details: [{ field: "x", message: "bad x" }],
        },
      });
    if (path === "/busy") return json(503, { error: { code: "SERVICE_UNAVAILABLE", message: "try again" } });
    return json(200, { ok: true, path });
  };

  refreshCalls(): number {
    return this.calls.filter((c) => c.path === "/auth/refresh").length;
  }
}

/** A Web Lock shared by the tabs of one browser. */
function sharedLock() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(_name: string, fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** A BroadcastChannel between tabs: delivers to every other member, asynchronously. */
function channelHub() {
  const members: MessageChannelLike[] = [];
  return (): MessageChannelLike => {
    const me: MessageChannelLike = {
      onmessage: null,
      postMessage(msg) {
        for (const m of members) if (m !== me) queueMicrotask(() => m.onmessage?.({ data: msg }));
      },
    };
    members.push(me);
    return me;
  };
}

function memoryStore(): KeyValueStore & { data: Record<string, string> } {
  const data: Record<string, string> = {};
  return { data, getItem: (k) => data[k] ?? null, setItem: (k, v) => void (data[k] = v) };
}

function tab(gw: FakeGateway, extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}) {
  return new ApiClient({ fetch: gw.fetch as typeof fetch, now: gw.now, ...extra });
}

describe("single-flight refresh", () => {
  test("concurrent calls with an expired token share one refresh", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    await api.login("a@example.com", "right");
    gw.clock += 31_000;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api.get<{ path: string }>(`/thing/${i}`)),
    );
    expect(results.map((r) => r.path)).toEqual(Array.from({ length: 20 }, (_, i) => `/thing/${i}`));
    expect(gw.refreshCalls()).toBe(1);
    expect(gw.revoked).toBe(false);
  });

  test("tabs sharing the cookie never present a rotated token: one refresh, shared over the channel", async () => {
    const gw = new FakeGateway();
    const lock = sharedLock();
    const channel = channelHub();
    const tabs = [0, 1, 2].map(() => tab(gw, { lock, channel: channel() }));
    await tabs[0].login("a@example.com", "right");
    // the other tabs learned the token from the first
    await new Promise((r) => setTimeout(r, 0));
    expect(tabs.map((t) => t.user?.id)).toEqual([1, 1, 1]);
    gw.clock += 31_000;
    await Promise.all(tabs.flatMap((t) => [t.get("/a"), t.get("/b")]));
    expect(gw.revoked).toBe(false);
    expect(gw.refreshCalls()).toBe(1);
  });

  test("without the shared lock, parallel tabs would trip reuse detection (what the lock prevents)", async () => {
    const gw = new FakeGateway();
    const a = tab(gw);
    const b = tab(gw);
    await a.login("a@example.com", "right");
    await Promise.all([a.refresh(), b.refresh()]);
    expect(gw.revoked).toBe(true);
  });

  test("a refresh the server refuses ends the session; the caller learns it with SessionEndedError", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    const seen: unknown[] = [];
    api.subscribe((s) => seen.push(s));
    await api.login("a@example.com", "right");
    gw.revoked = true;
    gw.clock += 31_000;
    await expect(api.get("/x")).rejects.toBeInstanceOf(SessionEndedError);
    expect(api.user).toBeNull();
    expect(seen[seen.length - 1]).toBeNull();
    // nothing is retried blindly
    expect(gw.refreshCalls()).toBe(1);
  });

  test("a 401 on a live token gets one refresh and one retry", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    await api.login("a@example.com", "right");
    gw.valid.clear(); // the server forgot this access token (e.g. a key rotation)
    await expect(api.get<{ ok: boolean }>("/x")).resolves.toEqual({ ok: true, path: "/x" });
    expect(gw.refreshCalls()).toBe(1);
    expect(gw.calls.filter((c) => c.path === "/x")).toHaveLength(2);
  });

  test("a server that cannot refresh now keeps the session (503 is an error, not a sign-out)", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    await api.login("a@example.com", "right");
    const realFetch = gw.fetch;
    gw.fetch = async (input, init) =>
      String(input).endsWith("/auth/refresh")
        ? new Response(JSON.stringify({ error: { code: "SERVICE_UNAVAILABLE", message: "later" } }), {
            status: 503,
          })
        : realFetch(input, init);
    const flaky = tab(gw);
    (flaky as unknown as { state: unknown }).state = (api as unknown as { state: unknown }).state;
    gw.clock += 31_000;
    await expect(flaky.get("/x")).rejects.toMatchObject({ status: 503, code: "SERVICE_UNAVAILABLE" });
    expect(flaky.user).not.toBeNull();
  });

  test("restore after a page load is one refresh through the cookie", async () => {
    const gw = new FakeGateway();
    await tab(gw).login("a@example.com", "right");
    const reloaded = tab(gw);
    const [u1, u2] = await Promise.all([reloaded.restore(), reloaded.restore()]);
    expect(u1?.email).toBe("a@example.com");
    expect(u2?.email).toBe("a@example.com");
    expect(gw.refreshCalls()).toBe(1);
    const refresh = gw.calls.find((c) => c.path === "/auth/refresh")!;
    expect(refresh.headers["X-Aura-Session"]).toBe("cookie");
    expect(refresh.body).toEqual({});
  });
});

describe("login, logout and device tokens", () => {
  test("login asks for the cookie session and keeps the device token per email in storage", async () => {
    const gw = new FakeGateway();
    const store = memoryStore();
    const api = tab(gw, { store });
    await api.login("  A@Example.com ", "right");
    const login = gw.calls.find((c) => c.path === "/auth/login")!;
    expect(login.headers["X-Aura-Session"]).toBe("cookie");
    expect(login.body).toEqual({ email: "  A@Example.com ", password: "right" });
    expect(JSON.parse(store.data["aura.deviceTokens"])).toEqual({
      "a@example.com": "adt1.device.  A@Example.com ",
    });
    await api.login("a@example.com", "right");
    expect(gw.calls.filter((c) => c.path === "/auth/login")[1].body).toMatchObject({
      deviceToken: "adt1.device.  A@Example.com ",
    });
  });

  test("a wrong password is an ApiError with the server's message, and no session", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    await expect(api.login("a@example.com", "wrong")).rejects.toMatchObject({
      status: 401,
      message: "Invalid email or password.",
    });
    expect(api.user).toBeNull();
  });

  test("logout ends the session on the server and in every tab", async () => {
    const gw = new FakeGateway();
    const channel = channelHub();
    const a = tab(gw, { channel: channel() });
    const b = tab(gw, { channel: channel() });
    await a.login("a@example.com", "right");
    await new Promise((r) => setTimeout(r, 0));
    expect(b.user).not.toBeNull();
    await a.logout();
    await new Promise((r) => setTimeout(r, 0));
    expect(gw.calls.find((c) => c.path === "/auth/logout")?.headers["X-Aura-Session"]).toBe("cookie");
    expect(a.user).toBeNull();
    expect(b.user).toBeNull();
  });

  test("validation errors keep their fields", async () => {
    const gw = new FakeGateway();
    const api = tab(gw);
    await api.login("a@example.com", "right");
    const err = (await api.get("/boom").catch((e: unknown) => e)) as ApiError;
    expect(err.fieldErrors()).toEqual({ x: "bad x" });
  });
});

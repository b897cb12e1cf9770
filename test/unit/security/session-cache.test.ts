// The gateway's cached view of a token's user and session: hits within the TTL cost nothing, an
// invalidation (the "auth.session.changed" event) drops every entry of that user at once,
// concurrent misses share one fetch, and an answer about another user or session is not trusted.
import { SessionStateCache, type SessionStateWire } from "../../../src/gateway/session-cache";

const S1 = "11111111-1111-4111-8111-111111111111";
const S2 = "22222222-2222-4222-8222-222222222222";

const wire = (over: Partial<SessionStateWire> = {}): SessionStateWire => ({
  id: 1,
  email: "a@x.io",
  role: "user",
  status: "active",
  sid: S1,
  sessionLive: true,
  ...over,
});

test("TTL, invalidation and single flight", async () => {
  let now = 1000;
  let calls = 0;
  let next = wire();
  const cache = new SessionStateCache(
    async () => (calls++, next),
    5000,
    10,
    () => now,
  );
  const [a, b] = await Promise.all([cache.get("1", S1), cache.get("1", S1)]);
  expect(calls).toBe(1);
  expect(a).toBe(b);
  now += 4999;
  expect(await cache.get("1", S1)).toBe(a);
  expect(calls).toBe(1);
  next = wire({ status: "disabled" });
  cache.invalidate("1");
  expect((await cache.get("1", S1)).status).toBe("disabled");
  expect(calls).toBe(2);
  now += 5000;
  next = wire({ sessionLive: false });
  expect((await cache.get("1", S1)).sessionLive).toBe(false);
  expect(calls).toBe(3);
});

test("entries are per (user, session); invalidating a user drops all of its sessions", async () => {
  const asked: string[] = [];
  const cache = new SessionStateCache(async (userId, sid) => {
    asked.push(`${userId}/${sid}`);
    return wire({ id: Number(userId), sid, sessionLive: sid === S1 });
  }, 60_000);
  expect((await cache.get("1", S1)).sessionLive).toBe(true);
  expect((await cache.get("1", S2)).sessionLive).toBe(false);
  expect((await cache.get("2", S1)).sessionLive).toBe(true);
  expect(asked).toEqual([`1/${S1}`, `1/${S2}`, `2/${S1}`]);
  cache.invalidate("1");
  expect(cache.size).toBe(1);
  await cache.get("1", S1);
  await cache.get("2", S1);
  expect(asked).toEqual([`1/${S1}`, `1/${S2}`, `2/${S1}`, `1/${S1}`]);
});

test("an answer about another user or another session counts as not live", async () => {
  const cache = new SessionStateCache(async () => wire({ id: 2, sid: S1 }), 60_000);
  expect((await cache.get("1", S1)).sessionLive).toBe(false);
  const other = new SessionStateCache(async () => wire({ id: 1, sid: S2 }), 60_000);
  expect((await other.get("1", S1)).sessionLive).toBe(false);
});

test("a fetch that started before an invalidation is not cached", async () => {
  let release!: (w: SessionStateWire) => void;
  let calls = 0;
  const cache = new SessionStateCache(
    () => (calls++, new Promise<SessionStateWire>((r) => (release = r))),
    60_000,
  );
  const p = cache.get("1", S1) as Promise<unknown>;
  cache.invalidate("1");
  release(wire());
  await p;
  const again = cache.get("1", S1);
  expect(again).toBeInstanceOf(Promise);
  release(wire({ status: "disabled" }));
  expect((await again).status).toBe("disabled");
  expect(calls).toBe(2);
});

test("the cache is bounded", async () => {
  const cache = new SessionStateCache(async (id, sid) => wire({ id: Number(id), sid }), 60_000, 3);
  for (const id of ["1", "2", "3", "4"]) await cache.get(id, S1);
  await cache.get("4", S2);
  expect(cache.size).toBe(3);
  // the evicted user's index entry went with it
  expect((cache as any).keysByUser.has("1")).toBe(false);
});

// The gateway's cached view of a user: hits within the TTL cost nothing, an invalidation (the
// "auth.session.changed" event) drops the entry at once, concurrent misses share one fetch.
import { SessionStateCache, type SessionStateWire } from "../../../src/gateway/session-cache";

const wire = (over: Partial<SessionStateWire> = {}): SessionStateWire => ({
  id: 1,
  email: "a@x.io",
  role: "user",
  status: "active",
  revokedSids: [],
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
  const [a, b] = await Promise.all([cache.get("1"), cache.get("1")]);
  expect(calls).toBe(1);
  expect(a).toBe(b);
  now += 4999;
  expect(await cache.get("1")).toBe(a);
  expect(calls).toBe(1);
  next = wire({ status: "disabled" });
  cache.invalidate("1");
  expect((await cache.get("1")).status).toBe("disabled");
  expect(calls).toBe(2);
  now += 5000;
  next = wire({ revokedSids: ["s1"] });
  expect((await cache.get("1")).revokedSids.has("s1")).toBe(true);
  expect(calls).toBe(3);
});

test("a fetch that started before an invalidation is not cached", async () => {
  let release!: (w: SessionStateWire) => void;
  let calls = 0;
  const cache = new SessionStateCache(
    () => (calls++, new Promise<SessionStateWire>((r) => (release = r))),
    60_000,
  );
  const p = cache.get("1") as Promise<unknown>;
  cache.invalidate("1");
  release(wire());
  await p;
  const again = cache.get("1");
  expect(again).toBeInstanceOf(Promise);
  release(wire({ status: "disabled" }));
  expect((await again).status).toBe("disabled");
  expect(calls).toBe(2);
});

test("the cache is bounded", async () => {
  const cache = new SessionStateCache(async (id) => wire({ id: Number(id) }), 60_000, 3);
  for (const id of ["1", "2", "3", "4"]) await cache.get(id);
  expect((cache as any).entries.size).toBe(3);
});

// The service-level guard (mixins/auth-guard.mixin.ts): actions declare their audience and the
// mixin enforces it on every call, whoever the caller is: defence in depth behind the gateway.
import { ServiceBroker } from "moleculer";
import { AuthGuardMixin, assertOwned, guarded, userScope } from "../../../mixins/auth-guard.mixin";

const rows = [
  { id: 1, user_id: 10, secret: "a's" },
  { id: 2, user_id: 20, secret: "b's" },
];

const broker = new ServiceBroker({ logger: false });
broker.createService({
  name: "vault",
  mixins: [AuthGuardMixin],
  actions: {
    open: guarded({ auth: "public", handler: () => "anyone" }),
    mine: guarded({
      auth: "user",
      params: { id: "number", userId: { type: "number", optional: true } },
      handler(ctx: any) {
        return assertOwned(
          ctx,
          rows.find((r) => r.id === ctx.params.id),
        );
      },
    }),
    scope: guarded({ auth: "user", handler: (ctx: any) => userScope(ctx) }),
    admin: guarded({ auth: "admin", handler: () => "admin only" }),
    internal: guarded({
      auth: "internal",
      callers: ["execution"],
      visibility: "public",
      handler: () => "for execution",
    }),
  },
} as any);
for (const name of ["execution", "strategies"]) {
  broker.createService({ name, actions: { relay: (ctx: any) => ctx.call("vault.internal") } });
}
beforeAll(() => broker.start());
afterAll(() => broker.stop());

const as = (id: number, role = "user") => ({ meta: { user: { id, role } } });

test("an action without an auth declaration stops the service from being created", () => {
  const b = new ServiceBroker({ logger: false });
  expect(() =>
    b.createService({
      name: "leaky",
      mixins: [AuthGuardMixin],
      actions: { open: { handler: () => 1 }, bare: () => 2 },
    } as any),
  ).toThrow(/actions without an "auth" declaration \(open, bare\)/);
});

test("user actions need a user and only return the caller's own rows (404 otherwise)", async () => {
  await expect(broker.call("vault.mine", { id: 1 })).rejects.toMatchObject({
    code: 401,
    type: "UNAUTHORIZED",
  });
  await expect(
    broker.call("vault.mine", { id: 1 }, { meta: { user: { id: "x", role: "user" } } }),
  ).rejects.toMatchObject({ code: 401 });
  expect(await broker.call("vault.mine", { id: 1 }, as(10))).toMatchObject({ secret: "a's" });
  await expect(broker.call("vault.mine", { id: 2, userId: 20 }, as(10))).rejects.toMatchObject({
    code: 404,
    type: "NOT_FOUND",
  });
  await expect(broker.call("vault.mine", { id: 3 }, as(10))).rejects.toMatchObject({ code: 404 });
});

test("the query scope is the caller from ctx.meta, never from params", async () => {
  expect(await broker.call("vault.scope", { userId: 20 }, as(10))).toEqual({ userId: 10 });
});

test("admin actions need the admin role", async () => {
  await expect(broker.call("vault.admin", {}, as(10))).rejects.toMatchObject({
    code: 403,
    type: "FORBIDDEN",
  });
  expect(await broker.call("vault.admin", {}, as(10, "admin"))).toBe("admin only");
});

test("internal actions answer only the services named as callers", async () => {
  expect(await broker.call("execution.relay")).toBe("for execution");
  await expect(broker.call("strategies.relay")).rejects.toMatchObject({ code: 403 });
  await expect(broker.call("vault.internal")).rejects.toMatchObject({ code: 403 });
});

test("a callers entry <prefix>.* admits that family of dynamic services and nothing else", async () => {
  const b = new ServiceBroker({ logger: false });
  b.createService({
    name: "feed",
    mixins: [AuthGuardMixin],
    actions: { sub: guarded({ auth: "internal", callers: ["strategy.*"], handler: () => "subscribed" }) },
  } as any);
  for (const name of ["strategy.7f3a", "strategy", "strategies.1", "strategyx.1"]) {
    b.createService({ name, actions: { relay: (ctx: any) => ctx.call("feed.sub") } });
  }
  await b.start();
  try {
    expect(await b.call("strategy.7f3a.relay")).toBe("subscribed");
    for (const name of ["strategy", "strategies.1", "strategyx.1"]) {
      await expect(b.call(`${name}.relay`)).rejects.toMatchObject({ code: 403 });
    }
  } finally {
    await b.stop();
  }
  for (const loose of ["*", "strategy*", ".*"]) {
    const c = new ServiceBroker({ logger: false });
    expect(() =>
      c.createService({
        name: "open-door",
        mixins: [AuthGuardMixin],
        actions: { sub: guarded({ auth: "internal", callers: [loose], handler: () => 1 }) },
      } as any),
    ).toThrow(/callers must be service names or "<prefix>\.\*"/);
  }
});

test("public actions are open", async () => {
  expect(await broker.call("vault.open")).toBe("anyone");
});

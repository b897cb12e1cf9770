// The last-admin rule (changeUserAccess): no role or status change may leave the system without
// an active administrator, also when two changes race each other; disabling revokes sessions.
import { QueryTypes } from "sequelize";
import {
  changeUserAccess,
  createUser,
  findUserById,
  LastAdminError,
  startSession,
  DEFAULT_SESSION_POLICY,
  type UserRow,
} from "../../../src/adapters/auth/users";
import { createTestDatabase, type TestDatabase } from "../../support/db";

let db: TestDatabase;
let n = 0;

beforeAll(async () => {
  db = await createTestDatabase({ install: false });
});
afterAll(async () => {
  await db?.drop();
});

const user = (role: "user" | "admin"): Promise<UserRow> =>
  createUser(db.sequelize, {
    email: `last-admin-${++n}@example.com`,
    passwordHash: "not-a-real-hash",
    // with adminEmail set, exactly that address becomes admin
    adminEmail: role === "admin" ? `last-admin-${n}@example.com` : "nobody@example.com",
  });

async function activeAdmins(): Promise<number> {
  const [{ c }] = await db.sequelize.query<{ c: number }>(
    `SELECT count(*)::int AS c FROM users WHERE role = 'admin' AND status = 'active'`,
    { type: QueryTypes.SELECT },
  );
  return c;
}

test("two admins demoting each other at once: exactly one succeeds", async () => {
  const [a, b] = [await user("admin"), await user("admin")];
  const results = await Promise.allSettled([
    changeUserAccess(db.sequelize, a.id, { role: "user" }),
    changeUserAccess(db.sequelize, b.id, { role: "user" }),
  ]);
  expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
  expect(refused.reason).toBeInstanceOf(LastAdminError);
  expect(refused.reason.message).toBe("The last active administrator cannot be demoted.");
  expect(await activeAdmins()).toBe(1);
});

test("the last active admin cannot be disabled; with another admin it can, and loses its sessions", async () => {
  const [only] = await db.sequelize.query<{ id: string }>(
    `SELECT id FROM users WHERE role = 'admin' AND status = 'active'`,
    { type: QueryTypes.SELECT },
  );
  await expect(changeUserAccess(db.sequelize, only.id, { status: "disabled" })).rejects.toThrow(
    "The last active administrator cannot be disabled.",
  );
  const other = await user("admin");
  await startSession(db.sequelize, only.id, DEFAULT_SESSION_POLICY, {});
  const changed = await changeUserAccess(db.sequelize, only.id, { status: "disabled" });
  expect(changed).toMatchObject({ before: { status: "active" }, after: { status: "disabled" } });
  const [{ live }] = await db.sequelize.query<{ live: number }>(
    `SELECT count(*)::int AS live FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`,
    { bind: [only.id], type: QueryTypes.SELECT },
  );
  expect(live).toBe(0);
  // re-enabling and promoting are never refused
  expect((await changeUserAccess(db.sequelize, only.id, { status: "active" }))?.after.status).toBe("active");
  expect((await changeUserAccess(db.sequelize, other.id, { role: "admin" }))?.after.role).toBe("admin");
});

test("demoting or disabling a non-admin, or an unknown id", async () => {
  const u = await user("user");
  expect((await changeUserAccess(db.sequelize, u.id, { status: "disabled" }))?.after.status).toBe("disabled");
  expect((await findUserById(db.sequelize, u.id))?.status).toBe("disabled");
  expect(await changeUserAccess(db.sequelize, 999_999_999, { role: "user" })).toBeUndefined();
});

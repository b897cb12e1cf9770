// Identity: registration, login with brute-force throttling, short-lived JWT access tokens,
// rotating refresh tokens with reuse detection, logout, password change, and the admin actions
// on users. Every security-relevant outcome is written to audit_log. The gateway asks
// `auth.session` what it needs to accept a token and caches the answer briefly.
import { Errors, type Context, type ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { authConfig, readEnv } from "../src/adapters/config";
import { audit, type AuditEntry } from "../src/adapters/auth/audit";
import { DEFAULT_THROTTLE, LoginThrottle, type ThrottleConfig } from "../src/adapters/auth/login-throttle";
import { createLimiterFactory, type LimiterFactory } from "../src/adapters/auth/rate-limit";
import {
  DEVICE_TOKEN_TTL_SEC,
  deviceTokenKey,
  issueDeviceToken,
  verifyDeviceToken,
} from "../src/adapters/auth/device-tokens";
import { looksLikeRefreshToken, signAccessToken } from "../src/adapters/auth/tokens";
import {
  countActiveAdmins,
  createUser,
  EmailTakenError,
  findUserByEmail,
  findUserById,
  isLiveSession,
  listUsers,
  normaliseEmail,
  publicUser,
  recordLogin,
  revokeAllSessions,
  revokeFamily,
  rotateRefreshToken,
  setPasswordHash,
  setUserRole,
  setUserStatus,
  startSession,
  type Role,
  type SessionPolicy,
  type UserRow,
} from "../src/adapters/auth/users";
import {
  dummyHash,
  hashPassword,
  needsRehash,
  OWASP_ARGON2ID,
  passwordPolicyProblem,
  verifyPassword,
  type HashParams,
} from "../src/adapters/crypto/password";
import { getDatabase } from "../src/adapters/storage/database";
import { idParam } from "../src/gateway/params";
import { rateLimited } from "../src/gateway/rate-limit";
import { loadSecrets } from "../src/runtime/secrets";
import {
  AuthGuardMixin,
  ForbiddenError,
  guarded,
  NotFoundError,
  requireUser,
  UnauthorizedError,
} from "../mixins/auth-guard.mixin";

const env = readEnv();
const authCfg = authConfig();

interface AuthSettings {
  /** argon2id cost; tests may lower it, production never changes it from OWASP's minimum */
  passwordHash: HashParams;
  accessTtlSec: number;
  session: SessionPolicy;
  throttle: ThrottleConfig;
  adminEmail: string | undefined;
  /** shared lockout counters (REDIS_URL); unset → this process's memory */
  redisUrl: string | undefined;
  limiterPrefix: string;
  /** lifetime of the device tokens login hands out (the known-client exemption from lockout) */
  deviceTokenTtlSec: number;
}

const INVALID_CREDENTIALS = "Invalid email or password.";
const INVALID_REFRESH = "Invalid or expired refresh token.";

const STRICT = { $$strict: "remove" } as const;
const PASSWORD = { type: "string", min: 1, max: 256 } as const;
// ids beyond Number.MAX_SAFE_INTEGER (or PostgreSQL's bigint) are refused here, not in a query
const USER_ID = idParam("id");

function policyError(field: string, message: string): Error {
  return new Errors.ValidationError("Invalid request parameters.", "VALIDATION_ERROR", [
    { field, message, type: "passwordPolicy" },
  ]);
}

const adminView = (u: UserRow) => ({
  id: Number(u.id),
  email: u.email,
  role: u.role,
  status: u.status,
  createdAt: u.created_at,
  lastLoginAt: u.last_login_at,
});

const AuthService: ServiceSchema<AuthSettings & Record<string, any>> = {
  name: "auth",
  mixins: [AuthGuardMixin],

  settings: {
    passwordHash: { ...OWASP_ARGON2ID },
    accessTtlSec: authCfg.accessTtlSec,
    session: { ...authCfg.session },
    throttle: { ...DEFAULT_THROTTLE, ...authCfg.throttle },
    adminEmail: authCfg.adminEmail,
    redisUrl: env.redisUrl,
    limiterPrefix: "aura-rl",
    deviceTokenTtlSec: DEVICE_TOKEN_TTL_SEC,
  },

  created() {
    const secrets = loadSecrets(undefined, { warn: (m) => this.logger.warn(m) });
    this.jwtSecret = secrets.jwtSecret;
    this.deviceKey = deviceTokenKey(secrets.jwtSecret);
    if (env.production && !isOwaspOrStronger(this.settings.passwordHash)) {
      throw new Error("refusing to start in production with password hashing below OWASP's argon2id minimum");
    }
    this.limiters = createLimiterFactory(this.settings.redisUrl, {
      prefix: this.settings.limiterPrefix,
    }) as LimiterFactory;
    this.throttle = new LoginThrottle(this.limiters, this.settings.throttle);
  },

  async started() {
    // unknown-email logins verify against this, so they cost what a wrong password costs
    this.dummyHash = await dummyHash(this.settings.passwordHash);
    if (!(await this.limiters.ready(5000)))
      this.logger.warn("lockout store (Redis) not reachable yet; lockouts are per process until it is");
  },

  async stopped() {
    await this.limiters?.close();
  },

  actions: {
    register: guarded({
      auth: "public",
      params: { ...STRICT, email: { type: "email", normalize: true, max: 254 }, password: PASSWORD },
      async handler(ctx: Context<{ email: string; password: string }, any>) {
        const { email, password } = ctx.params;
        const problem = passwordPolicyProblem(password, email);
        if (problem) throw policyError("password", problem);
        const passwordHash = await hashPassword(password, this.settings.passwordHash);
        const sequelize = await this.sql();
        let user: UserRow;
        try {
          user = await createUser(sequelize, { email, passwordHash, adminEmail: this.settings.adminEmail });
        } catch (e) {
          if (e instanceof EmailTakenError)
            throw new Errors.MoleculerClientError(
              "An account with this email already exists.",
              409,
              "EMAIL_TAKEN",
            );
          throw e;
        }
        await this.audit(ctx, {
          action: "auth.register",
          userId: user.id,
          actorId: user.id,
          targetType: "user",
          targetId: user.id,
          details: { role: user.role },
        });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = "/api/v1/auth/me";
        return { user: publicUser(user) };
      },
    }),

    login: guarded({
      auth: "public",
      params: {
        ...STRICT,
        email: { type: "string", min: 3, max: 254, trim: true },
        password: PASSWORD,
        // from an earlier successful login of this client; an invalid one is ignored, not refused
        deviceToken: { type: "string", max: 200, optional: true },
      },
      async handler(ctx: Context<{ email: string; password: string; deviceToken?: string }, any>) {
        const email = normaliseEmail(ctx.params.email);
        const ip: string | undefined = ctx.meta.ip;
        // a client that logged in to this account before is held by its own lock, not the account's
        const device = verifyDeviceToken(this.deviceKey, ctx.params.deviceToken, email);
        const deviceKey = device ? `device:${device.deviceId}` : undefined;
        const verdict = await this.throttle.check(email, ip, deviceKey);
        if (verdict.retryAfter) {
          await this.audit(ctx, {
            action: "auth.login_locked",
            outcome: "failure",
            details: { email, scope: verdict.scope },
          });
          throw rateLimited(verdict.retryAfter);
        }
        const sequelize = await this.sql();
        const user = await findUserByEmail(sequelize, email);
        // the same work whether or not the account exists
        const passwordOk = await verifyPassword(user?.password_hash ?? this.dummyHash, ctx.params.password);
        if (!user || !passwordOk) {
          await this.throttle.fail(email, ip, deviceKey);
          await this.audit(ctx, {
            action: "auth.login_failed",
            userId: user?.id ?? null,
            actorId: null,
            outcome: "failure",
            details: { email, ...(device ? { knownDevice: true } : {}) },
          });
          throw new UnauthorizedError(INVALID_CREDENTIALS);
        }
        if (user.status !== "active") {
          await this.audit(ctx, {
            action: "auth.login_failed",
            userId: user.id,
            actorId: null,
            outcome: "failure",
            details: { email, reason: "disabled" },
          });
          throw new Errors.MoleculerClientError("This account is disabled.", 403, "ACCOUNT_DISABLED");
        }
        await this.throttle.succeed(email, deviceKey);
        if (needsRehash(user.password_hash, this.settings.passwordHash)) {
          await setPasswordHash(
            sequelize,
            user.id,
            await hashPassword(ctx.params.password, this.settings.passwordHash),
          );
        }
        await recordLogin(sequelize, user.id);
        const tokens = await this.issueTokens(ctx, user);
        await this.audit(ctx, {
          action: "auth.login",
          userId: user.id,
          actorId: user.id,
          details: { session: tokens.sessionId, ...(device ? { knownDevice: true } : {}) },
        });
        // the same device id again, so the client keeps one failure counter; the expiry slides
        const deviceToken = issueDeviceToken(this.deviceKey, email, {
          deviceId: device?.deviceId,
          ttlSec: this.settings.deviceTokenTtlSec,
        });
        return { ...this.tokenResponse(tokens, user), deviceToken: deviceToken.token };
      },
    }),

    refresh: guarded({
      auth: "public",
      params: { ...STRICT, refreshToken: { type: "string", min: 1, max: 200 } },
      async handler(ctx: Context<{ refreshToken: string }, any>) {
        if (!looksLikeRefreshToken(ctx.params.refreshToken)) throw new UnauthorizedError(INVALID_REFRESH);
        const sequelize = await this.sql();
        const r = await rotateRefreshToken(sequelize, ctx.params.refreshToken, this.settings.session, {
          ip: ctx.meta.ip,
          userAgent: ctx.meta.userAgent,
        });
        if (r.kind === "reuse") {
          await this.audit(ctx, {
            action: "auth.refresh_reuse_detected",
            userId: r.userId,
            actorId: null,
            outcome: "failure",
            targetType: "session",
            targetId: r.familyId,
          });
          await this.sessionChanged(ctx, r.userId);
          throw new UnauthorizedError(INVALID_REFRESH);
        }
        if (r.kind === "invalid") throw new UnauthorizedError(INVALID_REFRESH);
        const user = (await findUserById(sequelize, r.userId))!;
        const access = signAccessToken(
          this.jwtSecret,
          { userId: user.id, role: user.role, sid: r.issued.familyId },
          this.settings.accessTtlSec,
        );
        return this.tokenResponse(
          {
            accessToken: access.token,
            expiresIn: access.expiresIn,
            refreshToken: r.issued.token,
            sessionId: r.issued.familyId,
          },
          user,
        );
      },
    }),

    logout: guarded({
      auth: "user",
      params: { ...STRICT },
      async handler(ctx: Context<Record<string, never>, any>) {
        const me = requireUser(ctx);
        if (me.sid) await revokeFamily(await this.sql(), me.sid, "logout");
        await this.sessionChanged(ctx, me.id);
        await this.audit(ctx, {
          action: "auth.logout",
          userId: me.id,
          targetType: "session",
          targetId: me.sid,
        });
        ctx.meta.$statusCode = 204;
        return null;
      },
    }),

    me: guarded({
      auth: "user",
      params: { ...STRICT },
      handler(ctx: Context<Record<string, never>, any>) {
        const me = requireUser(ctx);
        return { user: { id: me.id, email: me.email, role: me.role } };
      },
    }),

    changePassword: guarded({
      auth: "user",
      params: { ...STRICT, currentPassword: PASSWORD, newPassword: PASSWORD },
      async handler(ctx: Context<{ currentPassword: string; newPassword: string }, any>) {
        const me = requireUser(ctx);
        const sequelize = await this.sql();
        const user = await findUserById(sequelize, me.id);
        if (!user || user.status !== "active") throw new UnauthorizedError();
        // a signed-in session is a known client: a stranger's account lockout does not hold it
        const sessionKey = me.sid ? `session:${me.sid}` : undefined;
        const verdict = await this.throttle.check(user.email, ctx.meta.ip, sessionKey);
        if (verdict.retryAfter) throw rateLimited(verdict.retryAfter);
        if (!(await verifyPassword(user.password_hash, ctx.params.currentPassword))) {
          await this.throttle.fail(user.email, ctx.meta.ip, sessionKey);
          await this.audit(ctx, {
            action: "auth.password_change_failed",
            userId: user.id,
            outcome: "failure",
          });
          throw new Errors.MoleculerClientError(
            "The current password is not correct.",
            400,
            "INVALID_CURRENT_PASSWORD",
          );
        }
        const problem = passwordPolicyProblem(ctx.params.newPassword, user.email);
        if (problem) throw policyError("newPassword", problem);
        if (ctx.params.newPassword === ctx.params.currentPassword)
          throw policyError("newPassword", "The new password must differ from the current one.");
        const hash = await hashPassword(ctx.params.newPassword, this.settings.passwordHash);
        const revoked = await sequelize.transaction(async (t: Transaction) => {
          await setPasswordHash(sequelize, user.id, hash, t);
          return revokeAllSessions(sequelize, user.id, "password_change", t);
        });
        await this.sessionChanged(ctx, user.id);
        await this.throttle.succeed(user.email, sessionKey);
        // every earlier session is gone; this client continues in a fresh one
        const tokens = await this.issueTokens(ctx, user);
        await this.audit(ctx, {
          action: "auth.password_change",
          userId: user.id,
          details: { sessionsRevoked: revoked.length },
        });
        return this.tokenResponse(tokens, user);
      },
    }),

    listUsers: guarded({
      auth: "admin",
      params: {
        ...STRICT,
        limit: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
        afterId: idParam("afterId", { optional: true }),
      },
      async handler(ctx: Context<{ limit?: number | null; afterId?: number | null }, any>) {
        const limit = ctx.params.limit ?? 50;
        const rows = await listUsers(await this.sql(), { limit, afterId: ctx.params.afterId ?? undefined });
        return {
          users: rows.map(adminView),
          nextAfterId: rows.length === limit ? Number(rows[rows.length - 1].id) : null,
        };
      },
    }),

    disableUser: guarded({
      auth: "admin",
      params: { ...STRICT, id: USER_ID },
      async handler(ctx: Context<{ id: number }, any>) {
        return this.changeStatus(ctx, ctx.params.id, "disabled");
      },
    }),

    enableUser: guarded({
      auth: "admin",
      params: { ...STRICT, id: USER_ID },
      async handler(ctx: Context<{ id: number }, any>) {
        return this.changeStatus(ctx, ctx.params.id, "active");
      },
    }),

    setRole: guarded({
      auth: "admin",
      params: { ...STRICT, id: USER_ID, role: { type: "enum", values: ["user", "admin"] } },
      async handler(ctx: Context<{ id: number; role: Role }, any>) {
        const sequelize = await this.sql();
        const result = await sequelize.transaction(async (t: Transaction) => {
          await sequelize.query(`SELECT pg_advisory_xact_lock(7306123)`, { transaction: t });
          const before = await findUserById(sequelize, ctx.params.id, t);
          if (!before) throw new NotFoundError("User not found.");
          if (
            before.role === "admin" &&
            ctx.params.role !== "admin" &&
            before.status === "active" &&
            (await countActiveAdmins(sequelize, t)) <= 1
          ) {
            throw new Errors.MoleculerClientError(
              "The last active administrator cannot be demoted.",
              409,
              "LAST_ADMIN",
            );
          }
          const after = (await setUserRole(sequelize, ctx.params.id, ctx.params.role, t))!;
          return { before, after };
        });
        await this.sessionChanged(ctx, ctx.params.id);
        await this.audit(ctx, {
          action: "admin.role_change",
          userId: ctx.params.id,
          targetType: "user",
          targetId: ctx.params.id,
          details: { from: result.before.role, to: result.after.role },
        });
        return { user: adminView(result.after) };
      },
    }),

    /**
     * What the gateway needs to accept an access token: the account's status and current role, and
     * whether the token's session (`sid`) is an unrevoked session of this very user.
     */
    session: guarded({
      auth: "internal",
      callers: ["api"],
      visibility: "public",
      params: { ...STRICT, userId: idParam("userId"), sid: { type: "uuid" } },
      async handler(ctx: Context<{ userId: number; sid: string }, any>) {
        const { userId, sid } = ctx.params;
        const sequelize = await this.sql();
        const user = await findUserById(sequelize, userId);
        if (!user) return { id: userId, email: "", role: "user", status: "missing", sid, sessionLive: false };
        const sessionLive = await isLiveSession(sequelize, user.id, sid);
        return {
          id: Number(user.id),
          email: user.email,
          role: user.role,
          status: user.status,
          sid,
          sessionLive,
        };
      },
    }),
  },

  methods: {
    async sql() {
      return (await getDatabase()).sequelize;
    },

    async audit(ctx: Context<any, any>, entry: AuditEntry) {
      try {
        await audit(await this.sql(), ctx as any, entry);
      } catch (e: any) {
        // an audit failure must be visible to operators, but not turn a login into a 500
        this.logger.error({ action: entry.action, err: e?.message }, "audit_log write failed");
      }
    },

    /** Tells every gateway to drop its cached view of this user (logout, disable, role change, …). */
    async sessionChanged(ctx: Context<any, any>, userId: string | number) {
      await ctx.broadcast("auth.session.changed", { userId: Number(userId) });
    },

    async issueTokens(ctx: Context<any, any>, user: UserRow) {
      const session = await startSession(await this.sql(), user.id, this.settings.session, {
        ip: ctx.meta.ip,
        userAgent: ctx.meta.userAgent,
      });
      const access = signAccessToken(
        this.jwtSecret,
        { userId: user.id, role: user.role, sid: session.familyId },
        this.settings.accessTtlSec,
      );
      return {
        accessToken: access.token,
        expiresIn: access.expiresIn,
        refreshToken: session.token,
        sessionId: session.familyId,
      };
    },

    tokenResponse(t: { accessToken: string; expiresIn: number; refreshToken: string }, user: UserRow) {
      return {
        accessToken: t.accessToken,
        refreshToken: t.refreshToken,
        expiresIn: t.expiresIn,
        tokenType: "Bearer",
        user: publicUser(user),
      };
    },

    async changeStatus(ctx: Context<{ id: number }, any>, id: number, status: "active" | "disabled") {
      const me = requireUser(ctx);
      if (id === me.id && status === "disabled")
        throw new ForbiddenError("Administrators cannot disable their own account.");
      const sequelize = await this.sql();
      const after = await sequelize.transaction(async (t: Transaction) => {
        await sequelize.query(`SELECT pg_advisory_xact_lock(7306123)`, { transaction: t });
        const before = await findUserById(sequelize, id, t);
        if (!before) throw new NotFoundError("User not found.");
        if (
          status === "disabled" &&
          before.role === "admin" &&
          before.status === "active" &&
          (await countActiveAdmins(sequelize, t)) <= 1
        ) {
          throw new Errors.MoleculerClientError(
            "The last active administrator cannot be disabled.",
            409,
            "LAST_ADMIN",
          );
        }
        const row = (await setUserStatus(sequelize, id, status, t))!;
        if (status === "disabled") await revokeAllSessions(sequelize, id, "user_disabled", t);
        return row;
      });
      await this.sessionChanged(ctx, id);
      await this.audit(ctx, {
        action: status === "disabled" ? "admin.user_disable" : "admin.user_enable",
        userId: id,
        targetType: "user",
        targetId: id,
      });
      return { user: adminView(after) };
    },
  },
};

function isOwaspOrStronger(p: HashParams): boolean {
  return (
    p.memoryCost >= OWASP_ARGON2ID.memoryCost && p.timeCost >= OWASP_ARGON2ID.timeCost && p.parallelism >= 1
  );
}

export default AuthService;

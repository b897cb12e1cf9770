// Identity: registration, login with brute-force throttling, short-lived JWT access tokens,
// rotating refresh tokens with reuse detection, logout, password change, and the admin actions
// on users. Every security-relevant outcome is written to audit_log. The gateway asks
// `auth.session` what it needs to accept a token and caches the answer briefly.
import { Errors, type Service, type ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { authConfig, readEnv } from "../src/adapters/config";
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
  changeUserAccess,
  createUser,
  EmailTakenError,
  findUserByEmail,
  findUserById,
  isLiveSession,
  LastAdminError,
  listUsers,
  normaliseEmail,
  publicUser,
  recordLogin,
  revokeAllSessions,
  revokeFamily,
  rotateRefreshToken,
  setPasswordHash,
  startSession,
  type AccessChange,
  type IssuedRefresh,
  type PublicUser,
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
  type AuraContext,
} from "../mixins/auth-guard.mixin";
import { DatabaseMixin, type DatabaseMethods } from "../mixins/database.mixin";

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

interface AuthVars {
  jwtSecret: Buffer;
  deviceKey: Buffer;
  limiters: LimiterFactory;
  throttle: LoginThrottle;
  /** what unknown-email logins verify against */
  dummyHash: string;
}

interface TokenResponse {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: "Bearer";
  user: PublicUser;
}

interface AuthMethods extends DatabaseMethods {
  sessionChanged(ctx: AuraContext<unknown>, userId: string | number): Promise<void>;
  issueTokens(
    ctx: AuraContext<unknown>,
    user: UserRow,
    session?: IssuedRefresh,
  ): Promise<{ body: TokenResponse; sessionId: string }>;
  changeAccess(ctx: AuraContext<unknown>, id: number, change: AccessChange): Promise<{ user: AdminView }>;
}

type Self = Service<AuthSettings> & AuthVars & AuthMethods;

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

interface AdminView {
  id: number;
  email: string;
  role: Role;
  status: UserRow["status"];
  createdAt: Date;
  lastLoginAt: Date | null;
}

const adminView = (u: UserRow): AdminView => ({
  id: Number(u.id),
  email: u.email,
  role: u.role,
  status: u.status,
  createdAt: u.created_at,
  lastLoginAt: u.last_login_at,
});

const AuthService: ServiceSchema<AuthSettings, AuthMethods, AuthVars, Self> = {
  name: "auth",
  mixins: [AuthGuardMixin, DatabaseMixin],

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

  created(this: Self) {
    const secrets = loadSecrets(undefined, { warn: (m) => this.logger.warn(m) });
    this.jwtSecret = secrets.jwtSecret;
    this.deviceKey = deviceTokenKey(secrets.jwtSecret);
    if (env.production && !isOwaspOrStronger(this.settings.passwordHash)) {
      throw new Error("refusing to start in production with password hashing below OWASP's argon2id minimum");
    }
    this.limiters = createLimiterFactory(this.settings.redisUrl, { prefix: this.settings.limiterPrefix });
    this.throttle = new LoginThrottle(this.limiters, this.settings.throttle);
  },

  async started(this: Self) {
    // unknown-email logins verify against this, so they cost what a wrong password costs
    this.dummyHash = await dummyHash(this.settings.passwordHash);
    if (!(await this.limiters.ready(5000)))
      this.logger.warn("lockout store (Redis) not reachable yet; lockouts are per process until it is");
  },

  async stopped(this: Self) {
    await this.limiters?.close();
  },

  actions: {
    register: guarded({
      auth: "public",
      params: { ...STRICT, email: { type: "email", normalize: true, max: 254 }, password: PASSWORD },
      async handler(this: Self, ctx: AuraContext<{ email: string; password: string }>) {
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
      async handler(this: Self, ctx: AuraContext<{ email: string; password: string; deviceToken?: string }>) {
        const email = normaliseEmail(ctx.params.email);
        const ip = ctx.meta.ip;
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
        return { ...tokens.body, deviceToken: deviceToken.token };
      },
    }),

    refresh: guarded({
      auth: "public",
      params: { ...STRICT, refreshToken: { type: "string", min: 1, max: 200 } },
      async handler(this: Self, ctx: AuraContext<{ refreshToken: string }>) {
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
        return (await this.issueTokens(ctx, user, r.issued)).body;
      },
    }),

    logout: guarded({
      auth: "user",
      params: { ...STRICT },
      async handler(this: Self, ctx: AuraContext) {
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
      handler(this: Self, ctx: AuraContext) {
        const me = requireUser(ctx);
        return { user: { id: me.id, email: me.email, role: me.role } };
      },
    }),

    changePassword: guarded({
      auth: "user",
      params: { ...STRICT, currentPassword: PASSWORD, newPassword: PASSWORD },
      async handler(this: Self, ctx: AuraContext<{ currentPassword: string; newPassword: string }>) {
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
        return tokens.body;
      },
    }),

    listUsers: guarded({
      auth: "admin",
      params: {
        ...STRICT,
        limit: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
        afterId: idParam("afterId", { optional: true }),
      },
      async handler(this: Self, ctx: AuraContext<{ limit?: number | null; afterId?: number | null }>) {
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
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        return this.changeAccess(ctx, ctx.params.id, { status: "disabled" });
      },
    }),

    enableUser: guarded({
      auth: "admin",
      params: { ...STRICT, id: USER_ID },
      async handler(this: Self, ctx: AuraContext<{ id: number }>) {
        return this.changeAccess(ctx, ctx.params.id, { status: "active" });
      },
    }),

    setRole: guarded({
      auth: "admin",
      params: { ...STRICT, id: USER_ID, role: { type: "enum", values: ["user", "admin"] } },
      async handler(this: Self, ctx: AuraContext<{ id: number; role: Role }>) {
        return this.changeAccess(ctx, ctx.params.id, { role: ctx.params.role });
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
      async handler(this: Self, ctx: AuraContext<{ userId: number; sid: string }>) {
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
    /** Tells every gateway to drop its cached view of this user (logout, disable, role change, …). */
    async sessionChanged(this: Self, ctx: AuraContext<unknown>, userId: string | number) {
      await ctx.broadcast("auth.session.changed", { userId: Number(userId) });
    },

    /**
     * The token response for a session: a fresh access token bound to it and the session's refresh
     * token. Without `session` (login, password change) a new session is started first.
     */
    async issueTokens(this: Self, ctx: AuraContext<unknown>, user: UserRow, session?: IssuedRefresh) {
      const s =
        session ??
        (await startSession(await this.sql(), user.id, this.settings.session, {
          ip: ctx.meta.ip,
          userAgent: ctx.meta.userAgent,
        }));
      const access = signAccessToken(
        this.jwtSecret,
        { userId: user.id, role: user.role, sid: s.familyId },
        this.settings.accessTtlSec,
      );
      const body: TokenResponse = {
        accessToken: access.token,
        refreshToken: s.token,
        expiresIn: access.expiresIn,
        tokenType: "Bearer",
        user: publicUser(user),
      };
      return { body, sessionId: s.familyId };
    },

    /** An admin's change of a user's role or status; the last-admin rule is changeUserAccess's. */
    async changeAccess(this: Self, ctx: AuraContext<unknown>, id: number, change: AccessChange) {
      const me = requireUser(ctx);
      if ("status" in change && change.status === "disabled" && id === me.id)
        throw new ForbiddenError("Administrators cannot disable their own account.");
      let result: Awaited<ReturnType<typeof changeUserAccess>>;
      try {
        result = await changeUserAccess(await this.sql(), id, change);
      } catch (e) {
        if (e instanceof LastAdminError) throw new Errors.MoleculerClientError(e.message, 409, "LAST_ADMIN");
        throw e;
      }
      if (!result) throw new NotFoundError("User not found.");
      await this.sessionChanged(ctx, id);
      const target = { userId: id, targetType: "user", targetId: id };
      await this.audit(
        ctx,
        "role" in change
          ? {
              action: "admin.role_change",
              ...target,
              details: { from: result.before.role, to: result.after.role },
            }
          : { action: change.status === "disabled" ? "admin.user_disable" : "admin.user_enable", ...target },
      );
      return { user: adminView(result.after) };
    },
  },
};

function isOwaspOrStronger(p: HashParams): boolean {
  return (
    p.memoryCost >= OWASP_ARGON2ID.memoryCost && p.timeCost >= OWASP_ARGON2ID.timeCost && p.parallelism >= 1
  );
}

export default AuthService;

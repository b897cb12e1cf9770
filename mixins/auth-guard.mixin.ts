// Service-level authorization, behind the gateway's (defence in depth). Every action of a service
// using this mixin declares who may call it:
//   auth: "user"     — needs ctx.meta.user (set by the gateway from a verified token, or passed on
//                      by a service acting for that user); data access is scoped by its id
//   auth: "admin"    — needs ctx.meta.user with role "admin"
//   auth: "internal" — only the services named in `callers` (ctx.caller); never routed over HTTP
//   auth: "public"   — anyone (login, register, refresh)
// An action without `auth` makes the service fail to start, so nothing is left open by omission.
//
// ctx.caller and ctx.meta travel over the transporter unauthenticated: these checks stop bugs and
// confused deputies inside the cluster, not an attacker who can publish on NATS. Production NATS
// must require credentials and TLS (docs/security.md, "Trust model").
import { Errors, type ActionSchema, type Context, type Service, type ServiceSchema } from "moleculer";

export type ActionAuth = "public" | "user" | "admin" | "internal";

/** An action schema with its audience; `callers` names the services allowed for "internal". */
export type GuardedAction<TThis = Service> = ActionSchema<TThis> & { auth: ActionAuth; callers?: string[] };

/**
 * Declares an action with its auth requirement (typed: moleculer's ActionSchema has no `auth`).
 * TThis is the service's `this`, taken from the handler's `this:` annotation.
 */
export function guarded<TThis = Service>(def: GuardedAction<TThis>): ActionSchema<TThis> {
  return def;
}

export interface CallerUser {
  id: number;
  role: "user" | "admin";
  email?: string;
  sid?: string;
}

/**
 * ctx.meta as AURA's services use it. `user` is what the gateway resolved from a verified token,
 * or what a service acting for that user passed on; it crosses the transporter unchecked, so read
 * it through requireUser(), never directly.
 */
export interface AuraMeta {
  user?: { id?: unknown; role?: unknown; email?: string; sid?: string } | null;
  /** client address and user agent, set by the gateway for the audit log and rate limits */
  ip?: string;
  userAgent?: string;
  /** read by moleculer-web to shape the HTTP response */
  $statusCode?: number;
  $location?: string;
  $responseHeaders?: Record<string, string>;
}

/** A context of an AURA action: typed params, AuraMeta. */
export type AuraContext<P = Record<string, never>> = Context<P, AuraMeta>;

/** Anything carrying ctx.meta (any action's context, whatever its params). */
type MetaCarrier = { meta: AuraMeta };

export class UnauthorizedError extends Errors.MoleculerClientError {
  constructor(message = "Authentication required.") {
    super(message, 401, "UNAUTHORIZED");
  }
}

export class ForbiddenError extends Errors.MoleculerClientError {
  constructor(message = "Forbidden.") {
    super(message, 403, "FORBIDDEN");
  }
}

export class NotFoundError extends Errors.MoleculerClientError {
  constructor(what = "Not found.") {
    super(what, 404, "NOT_FOUND");
  }
}

const VALID: ActionAuth[] = ["public", "user", "admin", "internal"];

/** The verified user a context acts for; throws 401 when there is none. */
export function requireUser(ctx: MetaCarrier): CallerUser {
  const u = ctx.meta?.user;
  const id = Number(u?.id);
  if (!u || !Number.isSafeInteger(id) || id <= 0 || (u.role !== "user" && u.role !== "admin"))
    throw new UnauthorizedError();
  return { id, role: u.role, email: u.email, sid: u.sid };
}

/**
 * Bind parameters that scope a query to the caller: use as `WHERE user_id = $userId` with
 * `bind: { ...userScope(ctx), … }`. The id never comes from params.
 */
export function userScope(ctx: MetaCarrier): { userId: number } {
  return { userId: requireUser(ctx).id };
}

/** Returns the row when the caller owns it; otherwise 404, so other users' ids are not revealed. */
export function assertOwned<T extends { user_id?: unknown; userId?: unknown }>(
  ctx: MetaCarrier,
  row: T | null | undefined,
  what = "Not found.",
): T {
  const me = requireUser(ctx).id;
  const owner = row ? Number(row.user_id ?? row.userId) : NaN;
  if (!row || owner !== me) throw new NotFoundError(what);
  return row;
}

/** What the guard reads of the action being called (moleculer keeps unknown schema keys). */
type DeclaredAction = { name?: string; auth?: unknown; callers?: unknown };

export function enforceActionAuth(ctx: Context<unknown, AuraMeta>): void {
  const action = ctx.action as DeclaredAction | null;
  switch (action?.auth) {
    case "public":
      return;
    case "user":
      requireUser(ctx);
      return;
    case "admin":
      if (requireUser(ctx).role !== "admin") throw new ForbiddenError("Administrator role required.");
      return;
    case "internal": {
      const callers: string[] = Array.isArray(action.callers) ? action.callers : [];
      const caller = ctx.caller;
      // an entry ending in "*" admits a family by prefix: "strategy.*" is every strategy.<id> actor
      const admits = (c: string) => (c.endsWith("*") ? caller!.startsWith(c.slice(0, -1)) : c === caller);
      if (!caller || !callers.some(admits)) {
        throw new ForbiddenError(`${action.name} may only be called by: ${callers.join(", ") || "nobody"}.`);
      }
      return;
    }
    default:
      // fail closed: an action that forgot to declare its audience is callable by no one
      throw new ForbiddenError(`${action?.name ?? "action"} declares no auth requirement.`);
  }
}

export const AuthGuardMixin: Partial<ServiceSchema> & { merged(schema: ServiceSchema): void } = {
  hooks: {
    before: {
      "*": function authGuard(ctx: Context<unknown, AuraMeta>) {
        enforceActionAuth(ctx);
      },
    },
  },

  merged(schema: ServiceSchema) {
    const missing = Object.entries(schema.actions ?? {})
      .filter(
        ([, a]) =>
          a !== false && typeof a === "object" && !(VALID as unknown[]).includes((a as DeclaredAction).auth),
      )
      .map(([name]) => name);
    const bare = Object.entries(schema.actions ?? {})
      .filter(([, a]) => typeof a === "function")
      .map(([name]) => name);
    if (missing.length || bare.length) {
      throw new Error(
        `service ${schema.name}: actions without an "auth" declaration (${[...missing, ...bare].join(", ")}); add auth: "public" | "user" | "admin" | "internal"`,
      );
    }
    // a family of callers is "<prefix>.*"; a bare "*" (or "strategy*") would admit far more than meant
    const loose = Object.entries(schema.actions ?? {}).flatMap(([name, a]) =>
      a && typeof a === "object"
        ? (Array.isArray((a as DeclaredAction).callers) ? ((a as DeclaredAction).callers as string[]) : [])
            .filter((c) => c.includes("*") && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.\*$/.test(c))
            .map((c) => `${name}: "${c}"`)
        : [],
    );
    if (loose.length) {
      throw new Error(
        `service ${schema.name}: callers must be service names or "<prefix>.*" (${loose.join(", ")})`,
      );
    }
  },
};

export default AuthGuardMixin;

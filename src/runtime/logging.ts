// Structured logging shared by every process: JSON lines through pino, the current request id
// on every line (via AsyncLocalStorage, filled by a broker middleware), secrets redacted by key
// name at any depth, and ERROR/FATAL records mirrored to an in-process sink that the monitor
// service persists to system_logs.
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import type { LoggerOptions } from "pino";

export interface RequestScope {
  requestId?: string;
  userId?: string | number;
}
export const requestScope = new AsyncLocalStorage<RequestScope>();

/** Keys whose values are never written to a log (compared case-insensitively, exact key). */
const SECRET_KEYS = new Set(
  [
    "password",
    "newPassword",
    "currentPassword",
    "oldPassword",
    "secret",
    "apiSecret",
    "secretKey",
    "apiKey",
    "accessToken",
    "refreshToken",
    "deviceToken",
    "token",
    "authorization",
    "cookie",
    "set-cookie",
    "x-mbx-apikey",
    "signature",
    "masterKey",
    "jwtSecret",
    "ciphertext",
    "encryptedSecret",
    "encryptedApiKey",
  ].map((k) => k.toLowerCase()),
);
export const REDACTED = "[REDACTED]";

const JWT_RE = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g;

/** Deep copy of `value` with secret-named fields replaced and JWT-looking strings masked. */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return value.replace(JWT_RE, REDACTED);
  if (value === null || typeof value !== "object") return value;
  if (depth > 8 || seen.has(value)) return "[…]";
  seen.add(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = {
      type: value.name,
      message: redact(value.message, depth + 1, seen),
    };
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.has(k.toLowerCase()) ? REDACTED : redact(v, depth + 1, seen);
    }
    if (value.stack) out.stack = String(redact(value.stack, depth + 1, seen));
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length}]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEYS.has(k.toLowerCase()) ? REDACTED : redact(v, depth + 1, seen);
  }
  return out;
}

export interface SinkRecord {
  level: "error" | "fatal";
  time: number;
  nodeId?: string;
  module?: string;
  service?: string;
  message: string;
  requestId?: string;
  context?: unknown;
}
/** ERROR/FATAL records of this process, for the monitor service. */
export const logSink = new EventEmitter();
logSink.setMaxListeners(50);

/** The logger a pino hook runs on: the child bindings Moleculer sets (node, module, service). */
interface HookLogger {
  bindings?: () => { nodeID?: string; mod?: string; svc?: string };
}

/** pino options used by moleculer.config.ts (and by CLI tools that log). */
export function pinoOptions(level: string): LoggerOptions {
  return {
    level,
    base: undefined,
    messageKey: "msg",
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    formatters: { level: (label: string) => ({ level: label }) },
    mixin() {
      const scope = requestScope.getStore();
      return scope?.requestId ? { requestId: scope.requestId } : {};
    },
    hooks: {
      // Moleculer passes its arguments straight to pino; redact objects and strings here so a
      // caller that logs a params object or an error can never leak a secret.
      logMethod(this: HookLogger, inputArgs: unknown[], method: (...a: unknown[]) => void, levelNum: number) {
        const args = inputArgs.map((a) => redact(a));
        if (levelNum >= 50) {
          const bindings = typeof this.bindings === "function" ? this.bindings() : {};
          const msg = args
            .map((a) =>
              typeof a === "string"
                ? a
                : a instanceof Object && "message" in a
                  ? a.message
                  : JSON.stringify(a),
            )
            .join(" ");
          const record: SinkRecord = {
            level: levelNum >= 60 ? "fatal" : "error",
            time: Date.now(),
            nodeId: bindings.nodeID,
            module: bindings.mod,
            service: bindings.svc,
            message: msg.slice(0, 4000),
            requestId: requestScope.getStore()?.requestId,
            context: args.find((a) => a && typeof a === "object"),
          };
          logSink.emit("record", record);
        }
        // pino treats a leading object as merged fields; keep Moleculer's "string first" calls readable.
        return method.apply(this, args);
      },
    },
  };
}

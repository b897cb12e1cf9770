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
const JWT_TEST = new RegExp(JWT_RE.source);
const MAX_DEPTH = 8;

const hasJwt = (s: string) => s.includes("eyJ") && JWT_TEST.test(s);
/** Verdicts on key names seen so far: log records repeat a few names over and over. */
const keyVerdicts = new Map<string, boolean>();
const MAX_KEY_VERDICTS = 4096;
function isSecretKey(k: string): boolean {
  let v = keyVerdicts.get(k);
  if (v === undefined) {
    v = SECRET_KEYS.has(k.toLowerCase());
    // a caller logging ever-new key names must not grow this without bound
    if (keyVerdicts.size < MAX_KEY_VERDICTS) keyVerdicts.set(k, v);
  }
  return v;
}

/**
 * Whether redact() would change anything in `value`: a secret-named key, a JWT-looking string,
 * an Error or Buffer to flatten, a cycle or a nesting past the depth limit. Most log records
 * (a strategy's decision line, say) have none, and are then written as they are instead of
 * copied: a runner logs hundreds of lines per candle.
 */
function needsRedaction(value: unknown, depth: number, path: object[]): boolean {
  if (typeof value === "string") return hasJwt(value);
  if (value === null || typeof value !== "object") return false;
  if (depth > MAX_DEPTH || path.includes(value)) return true;
  if (value instanceof Error || Buffer.isBuffer(value)) return true;
  path.push(value);
  try {
    if (Array.isArray(value)) {
      for (const v of value) if (needsRedaction(v, depth + 1, path)) return true;
      return false;
    }
    for (const k of Object.keys(value)) {
      if (isSecretKey(k) || needsRedaction((value as Record<string, unknown>)[k], depth + 1, path))
        return true;
    }
    return false;
  } finally {
    path.pop();
  }
}

/**
 * `value` with secret-named fields replaced and JWT-looking strings masked: the value itself
 * when nothing needs to change, else a deep copy (errors flattened to plain objects).
 */
export function redact(value: unknown): unknown {
  if (value === null || (typeof value !== "object" && typeof value !== "string")) return value;
  return needsRedaction(value, 0, []) ? redactCopy(value) : value;
}

/** Deep copy of `value` with secret-named fields replaced and JWT-looking strings masked. */
export function redactCopy(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return value.replace(JWT_RE, REDACTED);
  if (value === null || typeof value !== "object") return value;
  if (depth > MAX_DEPTH || seen.has(value)) return "[…]";
  seen.add(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = {
      type: value.name,
      message: redactCopy(value.message, depth + 1, seen),
    };
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretKey(k) ? REDACTED : redactCopy(v, depth + 1, seen);
    }
    if (value.stack) out.stack = String(redactCopy(value.stack, depth + 1, seen));
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redactCopy(v, depth + 1, seen));
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length}]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretKey(k) ? REDACTED : redactCopy(v, depth + 1, seen);
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

const NO_FIELDS = Object.freeze({});

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
      return scope?.requestId ? { requestId: scope.requestId } : NO_FIELDS;
    },
    // pino's own merge copies every field of the line into the mixin's object; a line without a
    // request id (every decision line of a runner) needs no copy
    mixinMergeStrategy: (fields: object, mixed: object) =>
      mixed === NO_FIELDS ? fields : Object.assign(mixed, fields),
    hooks: {
      // Moleculer passes its arguments straight to pino; redact objects and strings here so a
      // caller that logs a params object or an error can never leak a secret.
      logMethod(this: HookLogger, inputArgs: unknown[], method: (...a: unknown[]) => void, levelNum: number) {
        // an error record is also handed to the monitor, which stores it later: a copy, not the
        // caller's object that may change meanwhile
        const args = inputArgs.map((a) => (levelNum >= 50 ? redactCopy(a) : redact(a)));
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

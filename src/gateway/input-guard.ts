// Refuses hostile shapes of request input at the gateway, before any service sees them:
// - NUL characters in any string (keys included): PostgreSQL text cannot hold them, so they would
//   fail deep inside a query with a 500 and lose whatever audit row that request was writing;
// - the keys __proto__, constructor and prototype (also as a segment of a dotted or bracketed key
//   such as "a.__proto__.b" or "a[constructor]"), which some merge or set-by-path helper somewhere
//   would otherwise follow into Object.prototype, and the names of Object.prototype's methods: a
//   body value {"toString": 1} makes Number(x), String(x) and `${x}` throw (the validator's
//   number conversion among them), and a data key "hasOwnProperty" breaks x.hasOwnProperty(k);
// - nesting deeper than `maxDepth` or more than `maxNodes` values, which recursive code further on
//   (validators, serializers, loggers) could not handle within its stack or time budget.
// The walk is iterative and stops at the first problem, and the node count is checked before the
// children of a container are queued, so a hostile body costs at most `maxNodes` steps.
// - half of a UTF-16 surrogate pair (src/core/util/text.ts), which is not text either.
// Pure: no I/O, no moleculer; api.service.ts turns a problem into 400 VALIDATION_ERROR.

import { LONE_SURROGATE } from "../core/util/text";

export interface InputLimits {
  /** containers nested deeper than this are refused (the top-level object is depth 0) */
  maxDepth: number;
  /** more values than this in one part of the request (keys are not counted) are refused */
  maxNodes: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxDepth: 32, maxNodes: 10_000 };

/** Keys that lead into an object's prototype chain, or shadow a built-in method of every object. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  "__proto__",
  "constructor",
  "prototype",
  // toString, valueOf, hasOwnProperty, …, read once at load, before any request could add to it
  ...Object.getOwnPropertyNames(Object.prototype),
]);

const RESERVED = "__proto__, constructor, prototype and the method names of every object such as toString";

export type InputProblemType = "nulCharacter" | "invalidText" | "forbiddenKey" | "tooDeep" | "tooManyValues";

export interface InputProblem {
  /** path of the offending value, e.g. `definition.indicators[0].period`; "" for the whole part */
  field: string;
  message: string;
  type: InputProblemType;
}

/** Where the input came from, used in the message so a person knows where to look. */
export type InputPart = "path" | "query" | "body";

const PART_LABEL: Record<InputPart, string> = {
  path: "in the URL path",
  query: "in the query string",
  body: "in the request body",
};

const KEY_SEGMENTS = /[.[\]]/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_KEY_SHOWN = 64;

/** Whether a key, or any dot/bracket segment of it, names a prototype property. */
export function isForbiddenKey(key: string): boolean {
  if (FORBIDDEN_KEYS.has(key)) return true;
  if (!KEY_SEGMENTS.test(key)) return false;
  return key.split(KEY_SEGMENTS).some((s) => FORBIDDEN_KEYS.has(s));
}

interface Frame {
  value: unknown;
  depth: number;
  key: string | number | undefined;
  parent: Frame | undefined;
}

function showKey(key: string): string {
  const shown = key.length > MAX_KEY_SHOWN ? key.slice(0, MAX_KEY_SHOWN) + "…" : key;
  // JSON quoting makes NUL and other control characters visible instead of printing them
  return JSON.stringify(shown);
}

/** A raw query key as a field name: control characters escaped, long keys shortened. */
function showRawKey(key: string): string {
  return showKey(key).slice(1, -1);
}

function pathOf(frame: Frame | undefined, extraKey?: string | number): string {
  const parts: (string | number)[] = [];
  if (extraKey !== undefined) parts.push(extraKey);
  for (let f = frame; f && f.key !== undefined; f = f.parent) parts.push(f.key);
  parts.reverse();
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else if (IDENTIFIER.test(p)) out += out ? `.${p}` : p;
    else out += `[${showKey(p)}]`;
  }
  return out;
}

/**
 * The first hostile thing in `input` (a parsed JSON body, a parsed query object or a map of path
 * params), or undefined when it is clean.
 */
export function findInputProblem(
  input: unknown,
  part: InputPart,
  limits: InputLimits = DEFAULT_INPUT_LIMITS,
): InputProblem | undefined {
  const where = PART_LABEL[part];
  let nodes = 1;
  const stack: Frame[] = [{ value: input, depth: 0, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (typeof v === "string") {
      if (v.includes("\u0000"))
        return {
          field: pathOf(frame),
          message: `The value ${where} contains a NUL character (\\u0000), which is not allowed.`,
          type: "nulCharacter",
        };
      if (LONE_SURROGATE.test(v))
        return {
          field: pathOf(frame),
          message: `The value ${where} contains half of a UTF-16 surrogate pair, which is not valid text.`,
          type: "invalidText",
        };
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    const isArray = Array.isArray(v);
    const keys = isArray ? undefined : Object.keys(v);
    const size = isArray ? (v as unknown[]).length : keys!.length;
    if (size === 0) continue;
    if (frame.depth + 1 > limits.maxDepth)
      return {
        field: pathOf(frame),
        message: `The value ${where} is nested more than ${limits.maxDepth} levels deep.`,
        type: "tooDeep",
      };
    nodes += size;
    if (nodes > limits.maxNodes)
      return {
        field: "",
        message: `The data ${where} holds more than ${limits.maxNodes} values.`,
        type: "tooManyValues",
      };
    if (isArray) {
      const arr = v as unknown[];
      for (let i = arr.length - 1; i >= 0; i--)
        stack.push({ value: arr[i], depth: frame.depth + 1, key: i, parent: frame });
      continue;
    }
    for (let i = keys!.length - 1; i >= 0; i--) {
      const k = keys![i];
      if (k.includes("\u0000"))
        return {
          field: pathOf(frame, k),
          message: `A key ${where} contains a NUL character (\\u0000), which is not allowed.`,
          type: "nulCharacter",
        };
      if (LONE_SURROGATE.test(k))
        return {
          field: pathOf(frame, k),
          message: `A key ${where} contains half of a UTF-16 surrogate pair, which is not valid text.`,
          type: "invalidText",
        };
      if (isForbiddenKey(k))
        return {
          field: pathOf(frame, k),
          message: `The key ${showKey(k)} ${where} is not allowed (reserved: ${RESERVED}).`,
          type: "forbiddenKey",
        };
      stack.push({ value: (v as Record<string, unknown>)[k], depth: frame.depth + 1, key: k, parent: frame });
    }
  }
  return undefined;
}

/**
 * Keys of a raw query string (`a[b]=1&c=2`), decoded. The query parser silently drops keys that
 * would reach Object.prototype (`__proto__[x]=1`, `a[constructor]=1`), so the parsed object can
 * look clean although the request tried; checking the raw keys refuses the attempt itself.
 */
export function rawQueryKeys(rawQuery: string, maxKeys = 1000): string[] {
  const out: string[] = [];
  for (const pair of rawQuery.split("&", maxKeys + 1)) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const rawKey = (eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, " ");
    let key: string;
    try {
      key = decodeURIComponent(rawKey);
    } catch {
      key = rawKey;
    }
    out.push(key);
  }
  return out;
}

/** The first hostile key of a raw query string, reported with the key as the field. */
export function findRawQueryProblem(rawQuery: string): InputProblem | undefined {
  for (const key of rawQueryKeys(rawQuery)) {
    if (key.includes("\u0000"))
      return {
        field: showRawKey(key),
        message: `A key ${PART_LABEL.query} contains a NUL character (\\u0000), which is not allowed.`,
        type: "nulCharacter",
      };
    if (isForbiddenKey(key))
      return {
        field: showRawKey(key),
        message: `The key ${showKey(key)} ${PART_LABEL.query} is not allowed (reserved: ${RESERVED}).`,
        type: "forbiddenKey",
      };
  }
  return undefined;
}

// Opaque keyset cursors: the (time, id) of the last row a page returned, microseconds kept, so the
// next page starts strictly after it whatever was inserted in between. Clients pass them back
// unchanged; a cursor only ever narrows a query that is already scoped to its caller.

export interface Cursor {
  /** canonical UTC timestamp with microseconds, as PostgreSQL printed it */
  t: string;
  /** the row id (bigint as text) */
  id: string;
  /** which table the row came from, where a page merges several (logs) */
  k?: number;
}

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ID_RE = /^\d{1,19}$/;

export class InvalidCursorError extends Error {
  constructor() {
    super("'cursor' is not valid: pass the nextCursor of a previous page unchanged.");
    this.name = "InvalidCursorError";
  }
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

export function decodeCursor(raw: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError();
  }
  const c = v as Partial<Cursor> | null;
  if (
    !c ||
    typeof c !== "object" ||
    typeof c.t !== "string" ||
    !TIME_RE.test(c.t) ||
    Number.isNaN(Date.parse(c.t)) ||
    typeof c.id !== "string" ||
    !ID_RE.test(c.id) ||
    (c.k !== undefined && c.k !== 0 && c.k !== 1)
  )
    throw new InvalidCursorError();
  return { t: c.t, id: c.id, ...(c.k !== undefined ? { k: c.k } : {}) };
}

/** SQL printing a timestamptz column as a cursor time (UTC, microseconds). */
export const cursorTime = (col: string) =>
  `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
/** SQL printing a timestamptz column as an ISO-8601 UTC instant with milliseconds. */
export const isoTime = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

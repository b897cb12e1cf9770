// Reading rows: node-postgres returns BIGINT and NUMERIC columns as strings (they may not fit a
// double); AURA's ids, fencing tokens and epoch-millisecond times are BIGINTs that always do.

/** A nullable BIGINT column (id, token, epoch ms) as a number, null kept. */
export function numberOrNull(v: string | number | null): number | null {
  return v === null ? null : Number(v);
}

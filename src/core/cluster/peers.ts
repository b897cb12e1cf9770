// Which other nodes share leased work (strategy instances, market streams), from the lease rows
// and the service registry. Pure: the caller passes what it read and keeps the returned `dead`.

export interface LeaseHolder {
  /** the node holding the lease, or null when nobody does */
  readonly owner: string | null;
  /** the lease has not expired */
  readonly live: boolean | null;
}

/**
 * The live nodes other than `me`, each with the number of live leases it holds. A node whose
 * leases all lapsed is dead or cut off, though the registry may list it until its heartbeats time
 * out (which can take longer than a lease): it stays counted out, in the returned `dead`, until it
 * holds a live lease again or leaves the registry, so its work is taken by the others instead of
 * waiting for it.
 */
export function livePeers(
  rows: readonly LeaseHolder[],
  me: string,
  registered: ReadonlySet<string>,
  deadBefore: ReadonlySet<string>,
): { others: Map<string, number>; dead: Set<string> } {
  const live = new Map<string, number>();
  const lapsed = new Set<string>();
  for (const r of rows) {
    if (!r.owner || r.owner === me) continue;
    if (r.live) live.set(r.owner, (live.get(r.owner) ?? 0) + 1);
    else lapsed.add(r.owner);
  }
  const dead = new Set([...deadBefore].filter((n) => !live.has(n) && registered.has(n)));
  for (const n of lapsed) if (!live.has(n) && registered.has(n)) dead.add(n);
  const others = new Map<string, number>();
  for (const n of registered) if (n !== me && !dead.has(n)) others.set(n, live.get(n) ?? 0);
  return { others, dead };
}

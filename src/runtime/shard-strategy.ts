// Moleculer's Shard strategy sends a key (for AURA: a symbol) to the node a hash ring names, the
// ring being built from the endpoints that were available at the last node event ($node.*). An
// endpoint can become unavailable without one: its circuit breaker opens after timeouts, the
// first sign of a node that died, well before the heartbeat timeout declares it gone. The ring
// then still names that node, the stock strategy finds it missing from the available endpoints
// and the call fails with "Strategy returned an invalid endpoint" for every key the node had,
// until a node event rebuilds the ring (15 s of refused orders after an execution pod dies).
// This subclass sends such a key to another available node, chosen by the same hash over the
// nodes available now, so the key still has one node while its own is out, and returns to its own
// once that is available again. Routing is only the first line: execution's database guard keeps
// one order per account and symbol in flight whatever node a call reaches.
//
// It is registered under the stock name: nodes announce their actions' strategy by name, so every
// node keeps saying "Shard", and a node of an older version still understands it.
import { Strategies, type Context } from "moleculer";

type Endpoint = Parameters<InstanceType<typeof Strategies.Shard>["select"]>[0][number];

/** The stock strategy's members this one uses (untyped in Moleculer's declarations). */
interface ShardInternals {
  needRebuild: boolean;
  rebuild(list: Endpoint[]): void;
  getKeyFromContext(ctx: Context): unknown;
  getNodeIDByKey(key: unknown): string | null;
  getHash(key: string): number;
}

const StockShard = Strategies.Shard;

export class FailoverShardStrategy extends StockShard {
  override select(list: Endpoint[], ctx: Context): Endpoint {
    const self = this as unknown as ShardInternals;
    const key = self.getKeyFromContext(ctx);
    if (key == null || list.length === 0) return super.select(list, ctx);
    if (self.needRebuild) self.rebuild(list);
    const owner = self.getNodeIDByKey(key);
    const own = owner === null ? undefined : list.find((ep) => ep.id === owner);
    if (own) return own;
    const ids = [...new Set(list.map((ep) => ep.id))].sort();
    const pick = ids[self.getHash(String(key)) % ids.length];
    return list.find((ep) => ep.id === pick)!;
  }
}

let installed = false;

/** Makes "Shard" mean FailoverShardStrategy in this process (idempotent). */
export function installFailoverShard(): void {
  if (installed) return;
  installed = true;
  Strategies.register("Shard", FailoverShardStrategy as unknown as Strategies.Base);
}

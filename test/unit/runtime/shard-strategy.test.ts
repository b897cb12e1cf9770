// The Shard routing execution and market-data use: a symbol stays on one node, and while that
// node's endpoint is unavailable without a node event (its circuit breaker opened) the call goes
// to another available node instead of failing, and comes back once the node is available.
import { ServiceBroker, Strategies, type Context } from "moleculer";
import { FailoverShardStrategy, installFailoverShard } from "../../../src/runtime/shard-strategy";

// the class Moleculer ships, before anything installs the subclass under its name
const StockShard = Strategies.Shard;
let broker: ServiceBroker;
beforeAll(() => {
  broker = new ServiceBroker({ logger: false });
});
afterAll(() => broker.stop());

type Ep = { id: string };
const ep = (id: string): Ep => ({ id });
const ctx = (symbol: string) => ({ params: { symbol } }) as unknown as Context;
const SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT"];

function strategy(Kind: typeof Strategies.Shard) {
  return new Kind(broker.registry as never, broker, { shardKey: "symbol" }) as unknown as {
    select(list: Ep[], c: Context): Ep | undefined;
  };
}

test("a symbol keeps its node, moves to an available one while its node is out, and comes back", () => {
  const all = [ep("exec-a"), ep("exec-b"), ep("exec-c")];
  const s = strategy(FailoverShardStrategy);
  const home = new Map(SYMBOLS.map((x) => [x, s.select(all, ctx(x))!.id]));
  // stable while nothing changes, and spread over more than one node
  for (const x of SYMBOLS) expect(s.select(all, ctx(x))!.id).toBe(home.get(x));
  expect(new Set(home.values()).size).toBeGreaterThan(1);

  // exec-a's breaker opens: no node event, it is just missing from the available endpoints
  const out = "exec-a";
  const available = all.filter((e) => e.id !== out);
  const moved = SYMBOLS.filter((x) => home.get(x) === out);
  expect(moved.length).toBeGreaterThan(0);
  for (const x of SYMBOLS) {
    const got = s.select(available, ctx(x))!;
    expect(available).toContain(got);
    // the others' symbols stay where they were; exec-a's go to one node each, every time
    if (home.get(x) !== out) expect(got.id).toBe(home.get(x));
    else expect(s.select(available, ctx(x))!.id).toBe(got.id);
  }
  // exec-a is back: its symbols return to it
  for (const x of SYMBOLS) expect(s.select(all, ctx(x))!.id).toBe(home.get(x));
});

test("the stock strategy fails those calls: the reason for the subclass", () => {
  const all = [ep("exec-a"), ep("exec-b"), ep("exec-c")];
  const stock = strategy(StockShard);
  const x = SYMBOLS.find((sym) => stock.select(all, ctx(sym))!.id === "exec-a")!;
  expect(stock.select(all.slice(1), ctx(x))).toBeUndefined();
});

test("installed, the strategy name every node announces resolves to the subclass", () => {
  installFailoverShard();
  expect(Strategies.resolve("Shard")).toBe(FailoverShardStrategy);
});

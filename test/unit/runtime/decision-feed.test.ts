// Decisions made in one turn of the event loop (every actor of a runner on a closed candle) reach
// the gateways as one broadcast, not one each; a very large turn is split into bounded events.
import {
  DecisionFeed,
  NOTICES_PER_EVENT,
  type DecisionNotice,
} from "../../../src/adapters/strategies/decisions";

const notice = (i: number): DecisionNotice => ({
  userId: 1 + (i % 7),
  strategyId: 100 + i,
  candleOpenTime: 1_700_000_000_000,
  action: "none",
  message: "no signal",
});
const turn = () => new Promise((r) => setImmediate(r));

test("one broadcast per turn of the event loop, every decision in it, in order", async () => {
  const sent: { event: string; decisions: DecisionNotice[] }[] = [];
  const feed = new DecisionFeed((event, p) => sent.push({ event, decisions: p.decisions }));
  for (let i = 0; i < 333; i++) feed.publish(notice(i));
  expect(sent).toEqual([]);
  await turn();
  expect(sent).toHaveLength(1);
  expect(sent[0].event).toBe("strategy.decisions");
  expect(sent[0].decisions.map((d) => d.strategyId)).toEqual(Array.from({ length: 333 }, (_, i) => 100 + i));
  feed.publish(notice(1000));
  await turn();
  expect(sent.map((s) => s.decisions.length)).toEqual([333, 1]);
});

test("a turn with more decisions than one event carries is split, nothing lost", async () => {
  const sent: DecisionNotice[][] = [];
  const feed = new DecisionFeed((_e, p) => sent.push(p.decisions));
  const n = NOTICES_PER_EVENT * 2 + 17;
  for (let i = 0; i < n; i++) feed.publish(notice(i));
  await turn();
  expect(sent.map((s) => s.length)).toEqual([NOTICES_PER_EVENT, NOTICES_PER_EVENT, 17]);
  expect(sent.flat().map((d) => d.strategyId)).toEqual(Array.from({ length: n }, (_, i) => 100 + i));
});

test("a failing broadcast loses that batch only, never throws into the actors", async () => {
  let calls = 0;
  const feed = new DecisionFeed(() => {
    calls++;
    return Promise.reject(new Error("bus down"));
  });
  feed.publish(notice(1));
  await turn();
  feed.publish(notice(2));
  await turn();
  expect(calls).toBe(2);
});

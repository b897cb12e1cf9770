// Which peers share leased work: a node whose leases all lapsed is counted out (its work gets
// taken) while the registry still lists it, until it holds a live lease again or leaves.
import { livePeers } from "../../../src/core/cluster/peers";

const reg = (...n: string[]) => new Set(n);

test("live nodes are counted with their live leases; this node and free rows are not", () => {
  const { others, dead } = livePeers(
    [
      { owner: "a", live: true },
      { owner: "a", live: true },
      { owner: "me", live: true },
      { owner: null, live: null },
    ],
    "me",
    reg("me", "a", "b"),
    new Set(),
  );
  expect([...others]).toEqual([
    ["a", 2],
    ["b", 0],
  ]);
  expect(dead.size).toBe(0);
});

test("a listed node whose leases all lapsed is counted out until it holds a live lease or leaves", () => {
  const lapsed = livePeers([{ owner: "a", live: false }], "me", reg("me", "a"), new Set());
  expect([...lapsed.others]).toEqual([]);
  expect([...lapsed.dead]).toEqual(["a"]);
  // no rows of its own any more, still listed: still out
  expect([...livePeers([], "me", reg("me", "a"), lapsed.dead).others]).toEqual([]);
  // a live lease again: back in
  const back = livePeers([{ owner: "a", live: true }], "me", reg("me", "a"), lapsed.dead);
  expect([...back.others]).toEqual([["a", 1]]);
  expect(back.dead.size).toBe(0);
  // gone from the registry: forgotten, so a node of the same name later starts clean
  expect(livePeers([], "me", reg("me"), lapsed.dead).dead.size).toBe(0);
});

test("one lapsed lease among live ones does not count a node out", () => {
  const { others, dead } = livePeers(
    [
      { owner: "a", live: false },
      { owner: "a", live: true },
    ],
    "me",
    reg("me", "a"),
    new Set(),
  );
  expect([...others]).toEqual([["a", 1]]);
  expect(dead.size).toBe(0);
});

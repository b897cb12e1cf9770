import { afterEach, beforeEach, expect, jest, test } from "@jest/globals";
import { pollWhileUnfinished } from "./poll";

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

function page(live: string) {
  const state = { live, unfinished: true, reloads: 0 };
  const stop = pollWhileUnfinished({
    unfinished: () => state.unfinished,
    live: () => state.live,
    reload: () => void state.reloads++,
  });
  return { state, stop };
}

test("with the live channel open, a page still waiting reloads now and then (a missed push is caught)", () => {
  const { state, stop } = page("open");
  jest.advanceTimersByTime(8000);
  expect(state.reloads).toBe(0);
  jest.advanceTimersByTime(1500);
  expect(state.reloads).toBe(1);
  jest.advanceTimersByTime(9000);
  expect(state.reloads).toBe(2);
  stop();
});

test("with the channel down it reloads every 3 s, and not at all once finished or stopped", () => {
  const { state, stop } = page("reconnecting");
  jest.advanceTimersByTime(9100);
  expect(state.reloads).toBe(3);
  state.unfinished = false;
  jest.advanceTimersByTime(30_000);
  expect(state.reloads).toBe(3);
  state.unfinished = true;
  stop();
  jest.advanceTimersByTime(30_000);
  expect(state.reloads).toBe(3);
});

// Pages that wait for something to finish (a backtest, a sweep) learn of it on the live channel,
// and reload their data on a timer as well: often while the channel is down, and now and then
// while it is up, because a push sent between the page's load and its subscription, or lost with a
// gateway node, would otherwise leave the page showing "running" for good.

export interface PollOptions {
  /** whether the page still waits */
  unfinished(): boolean;
  /** the live channel's state ("open" when pushes arrive) */
  live(): string;
  reload(): void;
  /** reload period while the channel is not open */
  downMs?: number;
  /** reload period while it is open */
  upMs?: number;
}

/** Starts reloading as described; returns the function that stops it. */
export function pollWhileUnfinished(o: PollOptions): () => void {
  const down = o.downMs ?? 3000;
  const up = o.upMs ?? 9000;
  let last = Date.now();
  const timer = setInterval(
    () => {
      if (!o.unfinished()) return;
      const now = Date.now();
      if (now - last < (o.live() === "open" ? up : down)) return;
      last = now;
      o.reload();
    },
    Math.min(down, up),
  );
  return () => clearInterval(timer);
}

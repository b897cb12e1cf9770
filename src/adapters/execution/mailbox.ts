// One FIFO queue per key: work for the same account×symbol runs one at a time, in arrival order,
// while different keys run concurrently. Bounded: a key whose queue is full refuses more work
// instead of letting memory grow.
export class MailboxFullError extends Error {
  constructor(
    readonly key: string,
    readonly depth: number,
  ) {
    super(`too many commands waiting for ${key} (${depth})`);
    this.name = "MailboxFullError";
  }
}

export class KeyedMailbox {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly depth = new Map<string, number>();

  constructor(private readonly maxDepth = 100) {}

  /** Runs `fn` after everything queued before it for `key`. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const d = this.depth.get(key) ?? 0;
    if (d >= this.maxDepth) return Promise.reject(new MailboxFullError(key, d));
    this.depth.set(key, d + 1);
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      const left = (this.depth.get(key) ?? 1) - 1;
      if (left <= 0) {
        this.depth.delete(key);
        if (this.tails.get(key) === settled) this.tails.delete(key);
      } else this.depth.set(key, left);
    });
    return next;
  }

  /** Commands waiting or running, per key. */
  sizes(): Record<string, number> {
    return Object.fromEntries(this.depth);
  }

  /** Resolves once everything queued so far has finished. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.tails.values()]);
  }
}

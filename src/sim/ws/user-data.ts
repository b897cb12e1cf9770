// Delivery of user-data events to every transport an account listens on: WebSocket-API
// subscriptions (wrapped {subscriptionId, event}), legacy listenKey sockets (raw) and combined
// streams ({stream: listenKey, data}). The pause-user-data fault drops or holds events here.
import { userEventJson } from "../binance/format";
import type { EngineEvent } from "../engine/types";
import type { FaultInjector } from "../venue/faults";

export interface UserSink {
  readonly accountId: number;
  /** Receives one raw event as JSON text; the sink wraps it for its transport. */
  deliver(eventJson: string): void;
}

export class UserDataHub {
  private readonly sinks = new Map<number, Set<UserSink>>();
  private readonly held: { accountId: number; json: string }[] = [];
  delivered = 0;
  dropped = 0;
  /** Called after a sink is added or removed. */
  onChange?: () => void;

  constructor(private readonly faults: FaultInjector) {}

  add(sink: UserSink): void {
    let s = this.sinks.get(sink.accountId);
    if (!s) this.sinks.set(sink.accountId, (s = new Set()));
    s.add(sink);
    this.onChange?.();
  }

  remove(sink: UserSink): void {
    if (this.sinks.get(sink.accountId)?.delete(sink)) this.onChange?.();
  }

  sinkCount(accountId?: number): number {
    if (accountId !== undefined) return this.sinks.get(accountId)?.size ?? 0;
    let n = 0;
    for (const s of this.sinks.values()) n += s.size;
    return n;
  }

  publish(events: readonly EngineEvent[]): void {
    for (const ev of events) {
      // nobody listens: Binance drops the event too, so do not even format it
      if (!this.sinks.get(ev.accountId)?.size) continue;
      this.send(ev.accountId, JSON.stringify(userEventJson(ev)));
    }
  }

  /** Sends an already-serialised raw event (e.g. listenKeyExpired). */
  send(accountId: number, json: string): void {
    const pause = this.faults.take("pause-user-data");
    if (pause) {
      if (pause.spec.mode === "hold") this.held.push({ accountId, json });
      else this.dropped++;
      return;
    }
    this.flushHeld();
    this.write(accountId, json);
  }

  private write(accountId: number, json: string): void {
    const sinks = this.sinks.get(accountId);
    if (!sinks) return;
    for (const s of sinks) {
      s.deliver(json);
      this.delivered++;
    }
  }

  /** Delivers events held by an ended "hold" pause, in their original order. */
  flushHeld(): void {
    if (this.held.length === 0 || this.faults.has("pause-user-data")) return;
    for (const h of this.held.splice(0)) this.write(h.accountId, h.json);
  }
}

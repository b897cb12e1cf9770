// The simulator's durable state: accounts (keys, permissions, balances, commission), orders, order
// lists, trades, id counters and the replay clock, as one JSON value with a version. Sockets,
// listenKeys, rate-limit windows and faults are transient and left out: clients reconnect and
// re-subscribe after a restart anyway.
import { PERMISSION_NAMES, API_KEY_RE, type ApiPermissions } from "./accounts";
import {
  SnapshotError,
  arr,
  bool,
  int,
  obj,
  oneOf,
  readEngineState,
  str,
  type EngineAccountJson,
  type EngineState,
  type EngineStateJson,
} from "../engine/state";

export { SnapshotError } from "../engine/state";

export const SNAPSHOT_VERSION = 1;
/** Finished orders and trades kept per account in a snapshot (open ones are always kept). */
export const DEFAULT_SNAPSHOT_HISTORY = 10_000;

export interface SnapshotAccount extends EngineAccountJson {
  apiKey: string;
  secretKey: string;
  permissions: ApiPermissions;
  /** Wall-clock creation time (apiRestrictions.createTime). */
  createTime: number;
}

export interface SnapshotClock {
  time: number;
  iso: string;
  mode: "realtime" | "step";
  speed: number;
  paused: boolean;
}

export interface SimSnapshot {
  version: typeof SNAPSHOT_VERSION;
  clock: SnapshotClock;
  accounts: SnapshotAccount[];
  engine: Omit<EngineStateJson, "accounts">;
}

export interface VenueAccountState {
  id: number;
  apiKey: string;
  secretKey: string;
  permissions: ApiPermissions;
  createTime: number;
}

/** A snapshot read and checked whole, before anything is restored from it. */
export interface RestoredState {
  clock: SnapshotClock;
  accounts: VenueAccountState[];
  engine: EngineState;
}

export function readSnapshot(v: unknown, symbols: ReadonlySet<string>): RestoredState {
  const s = obj(v, "snapshot");
  if (s.version !== SNAPSHOT_VERSION)
    throw new SnapshotError(
      `version ${JSON.stringify(s.version)} is not supported (expected ${SNAPSHOT_VERSION})`,
    );
  const c = obj(s.clock, "clock");
  const speed = c.speed;
  if (typeof speed !== "number" || !Number.isFinite(speed) || speed <= 0)
    throw new SnapshotError("clock.speed must be a positive number");
  const time = int(c.time, "clock.time");
  const clock: SnapshotClock = {
    time,
    iso: new Date(time).toISOString(),
    mode: oneOf(c.mode, "clock.mode", ["realtime", "step"] as const),
    speed,
    paused: bool(c.paused, "clock.paused"),
  };
  const rawAccounts = arr(s.accounts, "accounts");
  const accounts: VenueAccountState[] = [];
  const keys = new Set<string>();
  rawAccounts.forEach((x, i) => {
    const p = `accounts[${i}]`;
    const a = obj(x, p);
    const apiKey = str(a.apiKey, `${p}.apiKey`, API_KEY_RE);
    if (keys.has(apiKey)) throw new SnapshotError(`${p}: apiKey appears twice`);
    keys.add(apiKey);
    const perms = obj(a.permissions, `${p}.permissions`);
    const permissions = {} as ApiPermissions;
    for (const n of PERMISSION_NAMES) permissions[n] = bool(perms[n], `${p}.permissions.${n}`);
    accounts.push({
      id: int(a.id, `${p}.id`, 1),
      apiKey,
      secretKey: str(a.secretKey, `${p}.secretKey`, /^.+$/s),
      permissions,
      createTime: int(a.createTime, `${p}.createTime`),
    });
  });
  const engine = readEngineState({ ...obj(s.engine, "engine"), accounts: rawAccounts }, symbols);
  return { clock, accounts, engine };
}

// The built-in Binance-compatible exchange: in the default single-process run (EXCHANGE unset)
// this is the venue every other service trades on. It replays the bundled history on
// 127.0.0.1:SIM_PORT; other services find its URLs through `exchange-sim.info`.
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { AuthGuardMixin, guarded } from "../mixins/auth-guard.mixin";
import { simConfig } from "../src/adapters/config";
import { KeyRing, open, seal } from "../src/adapters/crypto/aead";
import { getDatabase } from "../src/adapters/storage/database";
import { loadSecrets } from "../src/runtime/secrets";
import { REPL_CALLER } from "../src/runtime/repl-commands";
import { createSimulator, type Simulator } from "../src/sim";
import { PERMISSION_NAMES } from "../src/sim/venue/accounts";

export interface ExchangeSimSettings {
  /** SIM_PORT (default 8090; 0 picks a free port). */
  port: number;
  /** Always loopback: the simulator has no real security and must not be reachable from outside. */
  host: "127.0.0.1";
  /** SIM_SPEED: replay ms per wall ms (default 1800 = one 1h candle every 2 s). */
  speed?: number;
  /** SIM_FROM: replay start (date, ISO time or epoch ms). */
  from?: string;
  /** SIM_STEP: "1"/"true" starts in step mode. */
  step: boolean;
  /** SIM_PERSIST_INTERVAL_MS: how often changed venue state is saved (default 5000; 0 = off). */
  persistIntervalMs: number;
  /**
   * Save and restore the venue in the database. Unset: on except in step mode, where tests
   * drive the clock and must each start from an empty venue.
   */
  persist?: boolean;
}

/** The simulator's settings from SIM_PORT, SIM_SPEED, SIM_FROM and SIM_STEP. */
export function readSimEnv(env?: NodeJS.ProcessEnv): ExchangeSimSettings {
  return { ...simConfig(env), host: "127.0.0.1" };
}

const DECIMAL = {
  type: "string",
  pattern: /^[0-9]{1,20}(\.[0-9]{1,8})?$/,
  messages: { stringPattern: "'{field}' must be a decimal string with at most 8 decimals" },
} as const;

const permissionProps = Object.fromEntries(
  PERMISSION_NAMES.map((n) => [n, { type: "boolean", optional: true }]),
);

interface CreateAccountParams {
  balances?: Record<string, string>;
  permissions?: Record<string, boolean>;
  commission?: { maker?: string; taker?: string; asset?: "received" | "quote" };
}

interface ExchangeSimVars {
  sim?: Simulator;
  persistTimer?: ReturnType<typeof setInterval>;
  /** The last snapshot written, as JSON: an unchanged venue is not written again. */
  savedJson?: string;
  saving?: Promise<void>;
  /** the master keys that seal the snapshot (it holds the paper accounts' secrets) */
  ring?: KeyRing;
}

type Self = Service<ExchangeSimSettings> & ExchangeSimVars;

function sim(svc: ExchangeSimVars): Simulator {
  const s = svc.sim;
  if (!s) throw new Errors.MoleculerError("The exchange simulator is not running.", 503, "SIM_NOT_RUNNING");
  return s;
}

function persisting(settings: ExchangeSimSettings): boolean {
  return settings.persistIntervalMs > 0 && (settings.persist ?? !settings.step);
}

const SNAPSHOT_AAD = "aura:sim_state:1";

function keyRing(self: Self): KeyRing {
  self.ring ??= (() => {
    const secrets = loadSecrets(process.env, { warn: (m) => self.logger.warn(m) });
    return new KeyRing(secrets.masterKey, secrets.oldMasterKeys);
  })();
  return self.ring;
}

/** The saved snapshot, or undefined when there is none. */
async function loadSnapshot(self: Self): Promise<unknown> {
  const db = await getDatabase();
  const rows = await db.sequelize.query<{ snapshot: string }>("SELECT snapshot FROM sim_state WHERE id = 1", {
    type: QueryTypes.SELECT,
  });
  if (!rows[0]) return undefined;
  return JSON.parse(open(keyRing(self), rows[0].snapshot, SNAPSHOT_AAD)) as unknown;
}

async function saveSnapshot(self: Self, s: Simulator): Promise<void> {
  // the row's saved_at says when; the snapshot itself is only the venue, so equal JSON is no change
  const json = JSON.stringify(s.snapshot());
  if (json === self.savedJson) return;
  const db = await getDatabase();
  await db.sequelize.query(
    `INSERT INTO sim_state (id, snapshot, saved_at) VALUES (1, $1, now())
     ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot, saved_at = EXCLUDED.saved_at`,
    { bind: [seal(keyRing(self), json, SNAPSHOT_AAD)] },
  );
  self.savedJson = json;
}

/** One save at a time; a failed save is logged and retried at the next tick, never fatal. */
function save(self: Self, s: Simulator): Promise<void> {
  self.saving ??= saveSnapshot(self, s)
    .catch((e: unknown) =>
      self.logger.warn(
        `exchange-sim: saving the simulator state failed: ${e instanceof Error ? e.message : String(e)}`,
      ),
    )
    .finally(() => {
      self.saving = undefined;
    });
  return self.saving;
}

/** A simulator rebuilt from the saved snapshot, or undefined (none, or unusable: then a warning). */
async function restoredSimulator(self: Self): Promise<Simulator | undefined> {
  let saved: unknown;
  try {
    saved = await loadSnapshot(self);
  } catch (e) {
    self.logger.warn(
      `exchange-sim: could not read the saved simulator state (${e instanceof Error ? e.message : String(e)}); starting with a fresh venue`,
    );
    return undefined;
  }
  if (saved === undefined) return undefined;
  try {
    const s = await createSimulator({ restore: saved });
    const st = s.clock.state();
    const accounts = s.accountViews();
    const open = accounts.reduce((n, a) => n + a.openOrders, 0);
    self.logger.info(
      `exchange-sim: restored ${accounts.length} accounts, ${open} open orders, replay at ${st.iso}`,
    );
    return s;
  } catch (e) {
    self.logger.warn(
      `exchange-sim: the saved simulator state cannot be restored (${e instanceof Error ? e.message : String(e)}); starting with a fresh venue, which replaces it at the next save`,
    );
    return undefined;
  }
}

const ExchangeSimService: ServiceSchema<ExchangeSimSettings, object, ExchangeSimVars, Self> = {
  name: "exchange-sim",
  mixins: [AuthGuardMixin],
  settings: readSimEnv(),
  actions: {
    /** The simulator's URLs and clock: for the services that connect to it, and operators. */
    info: guarded({
      auth: "internal",
      callers: ["keys", "market-data", "execution", "portfolio", REPL_CALLER],
      visibility: "public",
      params: {},
      handler(this: Self): Record<string, unknown> {
        const s = sim(this);
        return {
          baseUrl: s.baseUrl,
          restUrl: `${s.baseUrl}/api/v3`,
          wsUrl: s.wsUrl,
          streamUrl: s.streamUrl,
          wsApiUrl: s.wsApiUrl,
          adminUrl: `${s.baseUrl}/sim/v1`,
          ccxtUrls: s.ccxtUrls(),
          clock: s.clock.state(),
        };
      },
    }),
    /**
     * A simulator account with the given balances and permissions, and its API key: for operators,
     * and for `strategies`, which opens a user's paper account with it.
     */
    createAccount: guarded({
      auth: "internal",
      callers: [REPL_CALLER, "strategies"],
      visibility: "public",
      params: {
        $$strict: true,
        balances: {
          type: "record",
          optional: true,
          key: { type: "string", pattern: /^[A-Z0-9]{1,20}$/ },
          value: DECIMAL,
        },
        permissions: { type: "object", optional: true, strict: true, props: permissionProps },
        commission: {
          type: "object",
          optional: true,
          strict: true,
          props: {
            maker: { ...DECIMAL, optional: true },
            taker: { ...DECIMAL, optional: true },
            // "quote": every fee in the quote asset, as the backtest charges it (paper accounts)
            asset: { type: "enum", values: ["received", "quote"], optional: true },
          },
        },
      },
      handler(
        this: Self,
        ctx: Context<CreateAccountParams>,
      ): { accountId: number; apiKey: string; secretKey: string } {
        try {
          return sim(this).createAccount(ctx.params);
        } catch (e) {
          if (e instanceof RangeError) throw new Errors.ValidationError(e.message, "VALIDATION_ERROR", []);
          throw e;
        }
      },
    }),
  },
  async started(this: Self) {
    const { port, host, speed, from, step } = this.settings;
    const persist = persisting(this.settings);
    const s =
      (persist ? await restoredSimulator(this) : undefined) ?? (await createSimulator({ speed, from, step }));
    try {
      await s.listen(port, host);
    } catch (e) {
      await s.close();
      const msg = e instanceof Error ? e.message : String(e);
      if (/already in use/.test(msg)) {
        throw new Error(
          `exchange-sim: SIM_PORT ${port} on ${host} is already in use (another simulator or program holds it); stop it or set SIM_PORT to a free port, or 0 for any`,
        );
      }
      throw e;
    }
    this.sim = s;
    if (persist) {
      this.persistTimer = setInterval(() => void save(this, s), this.settings.persistIntervalMs);
      this.persistTimer.unref?.();
    }
    const st = s.clock.state();
    this.logger.info(
      `Binance-compatible simulator on ${s.baseUrl} (streams ${s.wsUrl}, WS API ${s.wsApiUrl}); replay from ${st.iso}, ${st.mode === "step" ? "step mode" : `${st.speed}x`}`,
    );
  },
  async stopped(this: Self) {
    const s = this.sim;
    this.sim = undefined;
    if (this.persistTimer) clearInterval(this.persistTimer);
    const persist = this.persistTimer !== undefined;
    this.persistTimer = undefined;
    if (!s) return;
    if (persist) {
      await this.saving;
      await save(this, s);
    }
    await s.close();
  },
};

export default ExchangeSimService;

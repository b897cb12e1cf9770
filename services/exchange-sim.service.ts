// The built-in Binance-compatible exchange: in the default single-process run (EXCHANGE unset)
// this is the venue every other service trades on. It replays the bundled history on
// 127.0.0.1:SIM_PORT; other services find its URLs through `exchange-sim.info`.
import { Errors, type Context, type Service, type ServiceSchema } from "moleculer";
import { AuthGuardMixin, guarded } from "../mixins/auth-guard.mixin";
import { simConfig } from "../src/adapters/config";
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
}

type Self = Service<ExchangeSimSettings> & ExchangeSimVars;

function sim(svc: ExchangeSimVars): Simulator {
  const s = svc.sim;
  if (!s) throw new Errors.MoleculerError("The exchange simulator is not running.", 503, "SIM_NOT_RUNNING");
  return s;
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
    const s = await createSimulator({ speed, from, step });
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
    const st = s.clock.state();
    this.logger.info(
      `Binance-compatible simulator on ${s.baseUrl} (streams ${s.wsUrl}, WS API ${s.wsApiUrl}); replay from ${st.iso}, ${st.mode === "step" ? "step mode" : `${st.speed}x`}`,
    );
  },
  async stopped(this: Self) {
    const s = this.sim;
    this.sim = undefined;
    if (s) await s.close();
  },
};

export default ExchangeSimService;

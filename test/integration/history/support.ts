// Fixtures for the history, portfolio and alerts suites: users with keys and strategies stored as
// the services store them, trades seeded in bulk with one INSERT … SELECT generate_series, and an
// RFC 4180 parser to read exports back.
import { QueryTypes, type Sequelize } from "sequelize";
import { insertApiKey } from "../../../src/adapters/auth/api-keys";
import { KeyRing } from "../../../src/adapters/crypto/aead";
import { randomApiKey, useTestSecrets } from "../security/helpers";

export async function q<T extends object = Record<string, any>>(
  sequelize: Sequelize,
  sql: string,
  bind: unknown[] = [],
): Promise<T[]> {
  return sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
}

/** An exchange key row of the user (sealed as the keys service seals it). */
export async function addKey(
  sequelize: Sequelize,
  userId: number,
  opts: {
    paper?: boolean;
    label?: string;
    apiKey?: string;
    secret?: string;
    status?: "valid" | "invalid";
  } = {},
): Promise<number> {
  const ring = new KeyRing(Buffer.from(useTestSecrets().masterKey, "base64"));
  const row = await insertApiKey(sequelize, ring, {
    userId,
    label: opts.label ?? `${opts.paper ? "Paper account" : "live"}-${randomApiKey().slice(0, 6)}`,
    exchange: "sim",
    apiKey: opts.apiKey ?? randomApiKey(),
    apiSecret: opts.secret ?? randomApiKey(),
    status: opts.status ?? "valid",
    statusReason: null,
    permissions: { spotTrading: true },
    validatedAt: new Date(),
    paper: opts.paper ?? false,
  });
  return Number(row.id);
}

export async function addStrategy(
  sequelize: Sequelize,
  userId: number,
  keyId: number | null,
  name: string,
  opts: { symbol?: string; status?: string } = {},
): Promise<number> {
  const [s] = await q<{ id: string }>(
    sequelize,
    `INSERT INTO strategies (user_id, api_key_id, name, symbol, interval, definition, status)
     VALUES ($1, $2, $3, $4, '1h', $5::jsonb, $6) RETURNING id`,
    [userId, keyId, name, opts.symbol ?? "BTCUSDT", JSON.stringify({ name }), opts.status ?? "draft"],
  );
  return Number(s.id);
}

/**
 * `n` closed trades of the user in one statement, exit times one minute apart going back from
 * `endMs`, cycling through the given strategies, keys, symbols and exit reasons; P&L from −50 to
 * +49.99 in steps that repeat. Returns nothing: read them back with SQL.
 */
export async function seedTrades(
  sequelize: Sequelize,
  o: {
    userId: number;
    n: number;
    strategies: (number | null)[];
    keys: number[];
    endMs?: number;
    symbols?: string[];
    reasons?: string[];
  },
): Promise<void> {
  await sequelize.query(
    `INSERT INTO trades (user_id, strategy_id, api_key_id, symbol, side, qty, entry_time, entry_price, exit_time,
                         exit_price, fees, pnl, exit_reason)
     SELECT $1,
            ($2::bigint[])[1 + (g % cardinality($2::bigint[]))],
            ($3::bigint[])[1 + ((g / 7) % cardinality($3::bigint[]))],
            ($4::text[])[1 + ((g / 3) % cardinality($4::text[]))],
            'LONG',
            (0.001 * (1 + g % 13))::numeric(30, 10),
            to_timestamp(($5::bigint - g::bigint * 60000 - 3600000) / 1000.0),
            (20000 + g % 1000)::numeric(30, 10),
            to_timestamp(($5::bigint - g::bigint * 60000) / 1000.0),
            (20000 + g % 1000 + (g % 97) - 48)::numeric(30, 10),
            (0.02 * (1 + g % 5))::numeric(30, 10),
            ((g % 10000) / 100.0 - 50)::numeric(30, 10),
            ($6::text[])[1 + ((g / 11) % cardinality($6::text[]))]
       FROM generate_series(0, $7::int - 1) AS g`,
    {
      bind: [
        o.userId,
        o.strategies,
        o.keys,
        o.symbols ?? ["BTCUSDT", "ETHUSDT"],
        o.endMs ?? Date.now() - 3_600_000,
        o.reasons ?? ["take_profit", "stop_loss", "signal"],
        o.n,
      ],
    },
  );
}

/** RFC 4180: fields separated by commas, records by CRLF, quoted fields with doubled quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += 2;
    } else if (c === "\n" || c === "\r") {
      throw new Error(`bare line break at ${i}: records must end with CRLF`);
    } else {
      field += c;
      i++;
    }
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

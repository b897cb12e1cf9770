// Where a market-data node taking a stream over resumes: the newest candle of the series its owners
// published and stored, kept with the stream's lease. It used to be read from the newest row of
// `klines`, which also holds candles no stream published: the bundled history, which a simulator
// replaying that period serves again as live candles, and imports. A takeover then could not tell
// published candles from loaded ones and skipped the candles that closed during the hand-over.
import { sqlMigration } from "../migrator";

// Not derived from klines for the streams that exist: that is the very value that cannot be
// trusted. Unknown, a series starts after the exchange's newest closed candle once, and strategy
// actors fetch what they missed themselves.
const UP = `
ALTER TABLE market_streams ADD COLUMN published_through BIGINT;
`;

const DOWN = `
ALTER TABLE market_streams DROP COLUMN published_through;
`;

export const migration = sqlMigration("0008_stream_published", UP, DOWN);

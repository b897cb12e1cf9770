/**
 * Version of the fill model and metrics. Stored backtest results are reused only for the same
 * version: bump it whenever a change to the engine could change any result.
 */
export const ENGINE_VERSION = "1";

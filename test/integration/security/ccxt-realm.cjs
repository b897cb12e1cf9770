// Builds a ccxt Binance client in Node's own module realm from a JSON config. Jest runs tests in
// a separate realm whose plain objects ccxt's deep-merge does not recognise (its options are
// silently dropped), and Jest's loader cannot require ccxt's ESM dependencies at all.
"use strict";
const ccxt = require("ccxt");
module.exports = (json) => new ccxt.binance(JSON.parse(json));

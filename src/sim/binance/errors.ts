// Binance error answers. Clients key on `code` and ccxt also matches some `msg` texts exactly,
// so every message here is the venue's own wording (docs/exchange-contract.md, Errors).

export class BinanceError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly httpStatus = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(msg);
    this.name = "BinanceError";
  }

  toJSON(): { code: number; msg: string } {
    return { code: this.code, msg: this.msg };
  }
}

export const MSG = {
  insufficientBalance: "Account has insufficient balance for requested action.",
  duplicateOrder: "Duplicate order sent.",
  unknownOrder: "Unknown order sent.",
  noSuchOrder: "Order does not exist.",
  marketClosed: "Market is closed.",
  wouldTrigger: "Order would trigger immediately.",
  wouldMatch: "Order would immediately match and take.",
  ocoPrices: "The relationship of the prices for the orders is not correct.",
  unsupportedCombination: "Unsupported order combination",
  priceQtyZero: "Price * QTY is zero or less.",
  cancelRestrictions: "Order was not canceled due to cancel restrictions.",
  invalidSymbol: "Invalid symbol.",
  invalidInterval: "Invalid interval.",
  invalidSignature: "Signature for this request is not valid.",
  apiKeyFormat: "API-key format invalid.",
  rejectedKey: "Invalid API-key, IP, or permissions for action.",
  tsOutside: "Timestamp for this request is outside of the recvWindow.",
  tsAhead: "Timestamp for this request was 1000ms ahead of the server's time.",
  listenKey: "This listenKey does not exist.",
  unknown: "An unknown error occurred while processing the request.",
  timeout: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
  disconnected: "Internal error; unable to process your request. Please try again.",
  unsupportedOperation: "This operation is not supported.",
} as const;

export const err = {
  mandatory: (name: string) =>
    new BinanceError(-1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`),
  eitherMandatory: (a: string, b: string) =>
    new BinanceError(-1102, `Param '${a}' or '${b}' must be sent, but both were empty/null!`),
  tooGreat: (name: string, max: string) =>
    new BinanceError(-1102, `'${name}' contains unexpected value. Cannot be greater than ${max}.`),
  illegalChars: (name: string, range: string) =>
    new BinanceError(-1100, `Illegal characters found in parameter '${name}'; legal range is '${range}'.`),
  notRequired: (name: string) => new BinanceError(-1106, `Parameter '${name}' sent when not required.`),
  precision: (name: string) => new BinanceError(-1111, `Parameter '${name}' has too much precision.`),
  invalidParam: (name: string) => new BinanceError(-1130, `Data sent for parameter '${name}' is not valid.`),
  badCombo: (a: string, b: string) =>
    new BinanceError(
      -1128,
      `Combination of optional parameters invalid. Recommendation: '${a}' and '${b}' must both be sent.`,
    ),
  tif: () => new BinanceError(-1115, "Invalid timeInForce."),
  orderType: () => new BinanceError(-1116, "Invalid orderType."),
  side: () => new BinanceError(-1117, "Invalid side."),
  emptyClientId: () => new BinanceError(-1118, "New client order ID was empty."),
  symbol: () => new BinanceError(-1121, MSG.invalidSymbol),
  interval: () => new BinanceError(-1120, MSG.invalidInterval),
  filter: (filter: string) => new BinanceError(-1013, `Filter failure: ${filter}`),
  rejected: (msg: string) => new BinanceError(-2010, msg),
  cancelRejected: (msg: string = MSG.unknownOrder) => new BinanceError(-2011, msg),
  noSuchOrder: () => new BinanceError(-2013, MSG.noSuchOrder),
  cancelRestrictionsParam: () =>
    new BinanceError(-1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED."),
  ocoType: () => new BinanceError(-1158, "Order type not supported in OCO."),
  ocoIceberg: (name: string) =>
    new BinanceError(
      -1160,
      `Parameter '${name}' is not supported if aboveTimeInForce/belowTimeInForce is not GTC.`,
    ),
  ocoBothLimit: () => new BinanceError(-1168, "At least one OCO order must be contingent."),
  ocoLeg: (code: number) => new BinanceError(code, OCO_LEG_MESSAGES[code] ?? MSG.ocoPrices),
  apiKeyFormat: () => new BinanceError(-2014, MSG.apiKeyFormat, 401),
  rejectedKey: () => new BinanceError(-2015, MSG.rejectedKey, 401),
  signature: () => new BinanceError(-1022, MSG.invalidSignature),
  tsOutside: () => new BinanceError(-1021, MSG.tsOutside),
  tsAhead: () => new BinanceError(-1021, MSG.tsAhead),
  listenKey: () => new BinanceError(-1125, MSG.listenKey),
  unsupported: () => new BinanceError(-1020, MSG.unsupportedOperation),
};

const OCO_LEG_MESSAGES: Record<number, string> = {
  [-1165]: "A limit order in a buy OCO must be below.",
  [-1166]: "A limit order in a sell OCO must be above.",
  [-1196]: "A stop loss order in a buy OCO must be above.",
  [-1197]: "A stop loss order in a sell OCO must be below.",
  [-1198]: "A take profit order in a buy OCO must be below.",
  [-1199]: "A take profit order in a sell OCO must be above.",
};

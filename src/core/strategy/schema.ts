// JSON Schema (draft-07) of the strategy format, generated from the indicator catalogue so the
// schema, the validator and the compiler accept the same indicators. The schema checks shape;
// `validateStrategy` adds what a schema cannot say (references to defined indicators and
// outputs, MACD fast < slow, constant comparisons).
import { FIXED_INTERVALS, SYMBOLS } from "../market/symbols";
import { PRICE_FIELDS } from "../model/candle";
import { INDICATORS, type IndicatorSpec } from "../indicators/registry";
import { CONDITION_OPERATORS, LIMITS, RESERVED_NAMES } from "./definition";

function indicatorSchema(spec: IndicatorSpec): Record<string, unknown> {
  const properties: Record<string, unknown> = { type: { const: spec.type } };
  if (spec.input === "series") properties.source = { enum: [...PRICE_FIELDS], default: "close" };
  for (const p of spec.params) {
    properties[p.name] = {
      type: p.kind,
      description: p.description,
      ...(p.exclusiveMin ? { exclusiveMinimum: p.min } : { minimum: p.min }),
      maximum: p.max,
    };
  }
  return {
    title: spec.title,
    type: "object",
    required: ["type", ...spec.params.map((p) => p.name)],
    properties,
    additionalProperties: false,
  };
}

const binary = (op: string) => ({
  type: "object",
  required: [op],
  properties: { [op]: { type: "array", items: { $ref: "#/definitions/operand" }, minItems: 2, maxItems: 2 } },
  additionalProperties: false,
});

const list = (op: string) => ({
  type: "object",
  required: [op],
  properties: { [op]: { type: "array", items: { $ref: "#/definitions/condition" }, minItems: 1 } },
  additionalProperties: false,
});

export const STRATEGY_JSON_SCHEMA = deepFreeze({
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:aura:strategy-definition",
  title: "AURA strategy definition",
  type: "object",
  required: ["name", "symbol", "interval", "indicators", "entry", "risk"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: LIMITS.nameLength },
    symbol: { type: "string", enum: Object.keys(SYMBOLS) },
    interval: { type: "string", enum: [...FIXED_INTERVALS] },
    indicators: {
      type: "object",
      maxProperties: LIMITS.indicators,
      propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$", not: { enum: [...RESERVED_NAMES] } },
      additionalProperties: { $ref: "#/definitions/indicator" },
    },
    entry: { $ref: "#/definitions/condition" },
    exit: { $ref: "#/definitions/condition" },
    risk: {
      type: "object",
      required: ["positionSizePct"],
      additionalProperties: false,
      properties: {
        takeProfitPct: { type: "number", exclusiveMinimum: 0, maximum: LIMITS.takeProfitPct },
        stopLossPct: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 100 },
        positionSizePct: { type: "number", exclusiveMinimum: 0, maximum: 100 },
        maxOpenPositions: { type: "integer", minimum: 1, maximum: LIMITS.maxOpenPositions, default: 1 },
        cooldownCandles: { type: "integer", minimum: 0, maximum: LIMITS.cooldownCandles, default: 0 },
      },
    },
    warmupCandles: { type: "integer", minimum: 0, maximum: LIMITS.warmupCandles, default: 200 },
  },
  definitions: {
    indicator: {
      type: "object",
      required: ["type"],
      properties: { type: { enum: Object.keys(INDICATORS) } },
      oneOf: Object.values(INDICATORS).map(indicatorSchema),
    },
    operand: {
      oneOf: [
        { type: "number" },
        { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$" },
      ],
    },
    condition: {
      type: "object",
      minProperties: 1,
      maxProperties: 1,
      propertyNames: { enum: [...CONDITION_OPERATORS] },
      oneOf: [
        ...["gt", "gte", "lt", "lte", "crossesAbove", "crossesBelow"].map(binary),
        list("all"),
        list("any"),
        {
          type: "object",
          required: ["not"],
          properties: { not: { $ref: "#/definitions/condition" } },
          additionalProperties: false,
        },
      ],
    },
  },
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

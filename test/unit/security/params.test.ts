// Shared parameter schemas (src/gateway/params.ts) through Moleculer's own validator: values are
// converted only from their exact textual forms, and everything outside its real range — ids past
// Number.MAX_SAFE_INTEGER, impossible calendar dates, epochs outside 1970..2100 — is refused
// instead of being passed on to code that would throw on it.
import { Validators } from "moleculer";
import {
  boundedString,
  epochOrIsoTimeParam,
  idParam,
  isoTimestampParam,
  MAX_TIME_MS,
  parseIsoInstant,
  utcDateParam,
} from "../../../src/gateway/params";

const validator = new (Validators as any).Fastest();
function run(
  schema: Record<string, unknown>,
  value: unknown,
): { ok: boolean; value?: unknown; errors?: any[] } {
  const check = validator.compile({ $$strict: "remove", v: schema });
  const params: any = { v: value };
  const r = check(params);
  return r === true ? { ok: true, value: params.v } : { ok: false, errors: r };
}
const accepts = (schema: Record<string, unknown>, input: unknown, out: unknown) =>
  expect([input, run(schema, input)]).toEqual([input, { ok: true, value: out }]);
const refuses = (schema: Record<string, unknown>, input: unknown) =>
  expect([input, run(schema, input).ok]).toEqual([input, false]);

test("idParam: positive safe integers, from numbers or digit strings only", () => {
  const s = idParam("id");
  accepts(s, 1, 1);
  accepts(s, "42", 42);
  accepts(s, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  accepts(s, String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
  for (const bad of [
    0,
    -1,
    1.5,
    "0",
    "-1",
    "1e3",
    "0x10",
    " 7",
    "7 ",
    "",
    "9007199254740992",
    "99999999999999999999",
    "9223372036854775808",
    Number.MAX_SAFE_INTEGER + 1,
    NaN,
    Infinity,
    true,
    [],
    {},
    undefined,
  ])
    refuses(s, bad);
  const err = run(s, "99999999999999999999").errors![0];
  expect(err).toMatchObject({ field: "v", type: "id" });
  expect(err.message).toMatch(/positive whole number/);
  expect(run(idParam("afterId", { optional: true }), undefined)).toEqual({ ok: true, value: undefined });
});

test("epochOrIsoTimeParam: epoch ms or ISO, real dates within 1970..2100 → epoch ms", () => {
  const s = epochOrIsoTimeParam("from");
  accepts(s, 0, 0);
  accepts(s, "1700000000000", 1_700_000_000_000);
  accepts(s, "2024-02-29", Date.UTC(2024, 1, 29));
  accepts(s, "2024-01-31T12:30:00Z", Date.UTC(2024, 0, 31, 12, 30));
  accepts(s, "2024-01-31T12:30", Date.UTC(2024, 0, 31, 12, 30));
  accepts(s, "2024-01-31 12:30:15.5", Date.UTC(2024, 0, 31, 12, 30, 15, 500));
  accepts(s, "2024-01-31T12:30:00+02:00", Date.UTC(2024, 0, 31, 10, 30));
  accepts(s, "2024-01-31T12:30:00-0130", Date.UTC(2024, 0, 31, 14, 0));
  accepts(s, "2100-12-31T23:59:59.999Z", MAX_TIME_MS);
  for (const bad of [
    -1,
    1.5,
    MAX_TIME_MS + 1,
    "9999999999999999",
    "99999999999999999999",
    "2024-02-30T00:00:00Z",
    "2023-02-29",
    "2024-13-01",
    "2024-00-10",
    "2024-04-31",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:60:00Z",
    "2024-01-01T23:59:60Z",
    "2024-01-01T00:00:00+24:00",
    "1969-12-31T23:59:59Z",
    "2101-01-01",
    "+275760-09-13",
    "yesterday",
    "NaN",
    "Infinity",
    "1e12",
    "",
    "2024-1-1",
    {},
  ])
    refuses(s, bad);
  expect(run(s, "2024-02-30").errors![0].message).toMatch(
    /^'from' must be epoch milliseconds or an ISO date/,
  );
});

test("utcDateParam: YYYY-MM-DD naming a real day, returned as given", () => {
  const s = utcDateParam("from");
  accepts(s, "2024-02-29", "2024-02-29");
  accepts(s, "1970-01-01", "1970-01-01");
  accepts(s, "2100-12-31", "2100-12-31");
  for (const bad of [
    "2023-02-29",
    "2024-02-30",
    "2024-06-31",
    "1969-12-31",
    "2101-01-01",
    "2024-01-01T00:00:00Z",
    20240101,
    "24-01-01",
  ])
    refuses(s, bad);
});

test("isoTimestampParam: a date-time (cursor) → canonical UTC ISO, microseconds kept", () => {
  const s = isoTimestampParam("before");
  accepts(s, "2024-01-31T12:00:00.000Z", "2024-01-31T12:00:00.000Z");
  accepts(s, "2024-01-31T12:00:00.123456Z", "2024-01-31T12:00:00.123456Z");
  accepts(s, "2024-01-31T12:00:00.123456+01:00", "2024-01-31T11:00:00.123456Z");
  accepts(s, "2024-01-31T12:00:00", "2024-01-31T12:00:00.000Z");
  for (const bad of [
    "2024-01-31",
    "2024-02-30T00:00:00Z",
    1700000000000,
    "1700000000000",
    "2024-01-31T12:00:00Zjunk",
  ])
    refuses(s, bad);
});

test("parseIsoInstant never rolls a date over", () => {
  expect(parseIsoInstant("2024-02-30")).toBeUndefined();
  expect(parseIsoInstant("2024-02-29")).toEqual({ ms: Date.UTC(2024, 1, 29), subMs: "" });
});

test("boundedString: length bounds after trimming, no control characters", () => {
  const s = boundedString(5);
  accepts(s, "  abc ", "abc");
  for (const bad of ["", "   ", "abcdef", "a\u0000b", "a\nb", "a\u007fb", 5]) refuses(s, bad);
  accepts(boundedString(10, { multiline: true }), "a\nb\tc", "a\nb\tc");
  refuses(boundedString(10, { multiline: true }), "a\u0000b");
  accepts(boundedString(10, { optional: true }), undefined, undefined);
});

// The gateway's hostile-input walker: NUL characters, prototype keys (also as a segment of a
// dotted or bracketed key, and in raw query strings the parser would silently drop), nesting and
// size bounds, found without recursion and without walking past the bounds.
import {
  DEFAULT_INPUT_LIMITS,
  findInputProblem,
  findRawQueryProblem,
  isForbiddenKey,
  rawQueryKeys,
} from "../../../src/gateway/input-guard";

const deep = (levels: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};

test("clean input of every shape passes", () => {
  for (const v of [
    undefined,
    null,
    42,
    "text with\ttab and ünïcödé",
    [],
    {},
    { a: [1, "x", { b: null, c: true }], "indicators.fast.period": [8, 12] },
    deep(DEFAULT_INPUT_LIMITS.maxDepth),
  ])
    expect(findInputProblem(v, "body")).toBeUndefined();
});

test("a NUL character anywhere, in values or keys, is named with its path", () => {
  expect(findInputProblem({ email: "a\u0000@x.io" }, "body")).toMatchObject({
    field: "email",
    type: "nulCharacter",
    message: expect.stringContaining("request body"),
  });
  expect(findInputProblem({ a: [{ b: ["ok", "x\u0000"] }] }, "body")?.field).toBe("a[0].b[1]");
  expect(findInputProblem({ a: { "k\u0000": 1 } }, "query")).toMatchObject({
    field: 'a["k\\u0000"]',
    type: "nulCharacter",
    message: expect.stringContaining("query string"),
  });
  expect(findInputProblem("\u0000", "body")?.field).toBe("");
  expect(findInputProblem({ id: "1\u0000" }, "path")?.message).toMatch(/URL path/);
});

test("prototype keys are refused, also as segments of a path-like key", () => {
  for (const key of [
    "__proto__",
    "constructor",
    "prototype",
    "a.__proto__.b",
    "x[constructor]",
    "prototype.y",
  ])
    expect(isForbiddenKey(key)).toBe(true);
  // method names of every object: {"toString": 1} makes Number(x) and String(x) throw
  for (const key of ["toString", "valueOf", "hasOwnProperty", "__defineGetter__", "a.valueOf"])
    expect(isForbiddenKey(key)).toBe(true);
  expect(() => Number({ toString: 1 })).toThrow(TypeError);
  for (const key of [
    "proto",
    "constructors",
    "__proto",
    "indicators.fast.period",
    "a[b]",
    "tostring",
    "value",
  ])
    expect(isForbiddenKey(key)).toBe(false);
  // JSON.parse makes "__proto__" an own key, which is exactly what a merge would follow
  const body = JSON.parse('{"definition":{"__proto__":{"polluted":1}}}');
  expect(findInputProblem(body, "body")).toMatchObject({
    field: "definition.__proto__",
    type: "forbiddenKey",
  });
  expect(findInputProblem({ grid: { "constructor.prototype.x": [1] } }, "body")?.type).toBe("forbiddenKey");
  expect(({} as any).polluted).toBeUndefined();
});

test("nesting deeper than the bound is refused", () => {
  expect(findInputProblem(deep(DEFAULT_INPUT_LIMITS.maxDepth + 1), "body")).toMatchObject({
    type: "tooDeep",
  });
  expect(findInputProblem(deep(5), "body", { maxDepth: 4, maxNodes: 100 })?.type).toBe("tooDeep");
});

test("a body nested far beyond the stack depth is refused without recursion", () => {
  const text = "[".repeat(200_000) + "]".repeat(200_000);
  const v = JSON.parse(text);
  expect(findInputProblem(v, "body")).toMatchObject({ type: "tooDeep" });
});

test("too many values are refused before the walk visits them", () => {
  const big = Array.from({ length: DEFAULT_INPUT_LIMITS.maxNodes + 1 }, () => 0);
  expect(findInputProblem(big, "body")).toMatchObject({ type: "tooManyValues", field: "" });
  // counted before walking further: a NUL at the end of a huge array is never reached
  big[big.length - 1] = "\u0000" as any;
  expect(findInputProblem(big, "body")?.type).toBe("tooManyValues");
  const wide = { a: Array.from({ length: 60 }, () => Array.from({ length: 200 }, () => 1)) };
  expect(findInputProblem(wide, "body")?.type).toBe("tooManyValues");
  expect(findInputProblem(wide, "body", { maxDepth: 32, maxNodes: 20_000 })).toBeUndefined();
});

test("raw query keys: bracket and prototype tricks the parser drops silently are caught", () => {
  expect(rawQueryKeys("a[b]=c&x=1&&flag&sp+ace=1&bad=%ZZ")).toEqual(["a[b]", "x", "flag", "sp ace", "bad"]);
  for (const q of [
    "__proto__[polluted]=1",
    "a[__proto__][x]=1",
    "constructor[prototype][x]=1",
    "x=1&a[constructor]=1",
    "%5F%5Fproto%5F%5F%5Bx%5D=1",
  ])
    expect([q, findRawQueryProblem(q)?.type]).toEqual([q, "forbiddenKey"]);
  expect(findRawQueryProblem("k%00=1")?.type).toBe("nulCharacter");
  expect(findRawQueryProblem("a[b]=c&symbol=BTCUSDT&from=2023-01-01")).toBeUndefined();
});

test("half of a surrogate pair is not text: refused in values and keys, whole pairs are fine", () => {
  expect(findInputProblem({ name: "a\ud800b" }, "body")).toMatchObject({
    field: "name",
    type: "invalidText",
  });
  expect(findInputProblem({ name: "x\udc00" }, "body")).toMatchObject({ type: "invalidText" });
  expect(findInputProblem({ ["k\ud83d"]: 1 }, "body")).toMatchObject({ type: "invalidText" });
  expect(findInputProblem({ name: "ok 😀 \ud83d\ude00" }, "body")).toBeUndefined();
});

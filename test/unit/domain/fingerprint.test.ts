import { MAX_JSON_DEPTH } from "../../../src/domain/limits.ts";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/lib/canonical-json.ts";
import { requestFingerprint } from "../../../src/domain/fingerprint.ts";
import { parseStrictJson } from "../../../src/lib/strict-json.ts";

function parsed(text: string): unknown {
  const result = parseStrictJson(text, MAX_JSON_DEPTH);
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

describe("canonicalJson", () => {
  it("ignores key order and whitespace at every depth", () => {
    const a = parsed('{"b":1,"a":{"y":[1,2],"x":null}}');
    const b = parsed(' {\n "a" : { "x" : null , "y" : [ 1 , 2 ] } , "b" : 1 } ');
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it("sorts keys and drops whitespace", () => {
    expect(canonicalJson(parsed('{ "b": 2, "a": [ {"d": 1, "c": 0} ] }'))).toBe('{"a":[{"c":0,"d":1}],"b":2}');
  });

  it("keeps array order", () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it("keeps a __proto__ key that the strict parser kept as an own key", () => {
    expect(canonicalJson(parsed('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}');
  });

  it("is the text of the value with its keys sorted, however it is written", () => {
    // The stored fingerprints hash this text: it must stay JSON.stringify of the key-sorted value.
    const sorted = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(sorted);
      if (value === null || typeof value !== "object") return value;
      const keys = Object.keys(value).sort();
      return Object.fromEntries(keys.map((key) => [key, sorted((value as Record<string, unknown>)[key])]));
    };
    const key = fc.oneof(fc.string(), fc.constantFrom("0", "1", "10", "2", "-1", "01", "4294967295", "__proto__", "a"));
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom(null, true, false, Number.NaN, 0, -1, 1.5),
        fc.integer(),
        fc.string(),
        fc.array(tie("any")),
        fc.dictionary(key, tie("any")),
      ),
    })).any;
    fc.assert(
      fc.property(fc.oneof(value, fc.dictionary(key, fc.oneof(fc.string(), fc.integer(), fc.constant(null)))), (v) => {
        expect(canonicalJson(v)).toBe(JSON.stringify(sorted(v)));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips to an equal value", () => {
    const value = parsed('{"z":"\\u00e9","a":[true,false,null,-1500,{"q":""}]}');
    expect(JSON.parse(canonicalJson(value))).toStrictEqual(value);
  });
});

describe("requestFingerprint", () => {
  const path = "/v1/accounts/alice/charges";
  const body = { amount: 100, currency: "USD", metadata: { a: "1", b: "2" } };

  it("is 64 lower-case hex characters", () => {
    expect(requestFingerprint("POST", path, body)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is the same for bodies that differ only in key order and spacing", () => {
    const reordered = parsed(' { "metadata": {"b":"2","a":"1"}, "currency":"USD", "amount":100 } ');
    expect(requestFingerprint("POST", path, reordered)).toBe(requestFingerprint("POST", path, body));
  });

  it("differs by method, path and body", () => {
    const base = requestFingerprint("POST", path, body);
    expect(requestFingerprint("PUT", path, body)).not.toBe(base);
    expect(requestFingerprint("POST", "/v1/accounts/bob/charges", body)).not.toBe(base);
    expect(requestFingerprint("POST", "/v1/accounts/alice/credits", body)).not.toBe(base);
    expect(requestFingerprint("POST", path, { ...body, amount: 101 })).not.toBe(base);
    expect(requestFingerprint("POST", path, { ...body, metadata: { a: "1" } })).not.toBe(base);
  });

  it("treats the method case-insensitively", () => {
    expect(requestFingerprint("post", path, body)).toBe(requestFingerprint("POST", path, body));
  });

  // The strict parser keeps "__proto__" as an ordinary own key, so these are two different bodies.
  it("differs for bodies that differ only under a __proto__ key", () => {
    const first = parsed('{"amount":1,"currency":"USD","metadata":{"__proto__":"a"}}');
    const second = parsed('{"amount":1,"currency":"USD","metadata":{"__proto__":"b"}}');
    expect(requestFingerprint("POST", path, first)).not.toBe(requestFingerprint("POST", path, second));
  });
});

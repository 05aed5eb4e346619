import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../../src/domain/limits.ts";
import { parseStrictJson } from "../../../src/lib/strict-json.ts";

function valueOf(text: string): unknown {
  const result = parseStrictJson(text, MAX_JSON_DEPTH);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse: ${result.error}`);
  return result.value;
}

function rejects(text: string): boolean {
  const result = parseStrictJson(text, MAX_JSON_DEPTH);
  if (!result.ok) expect(result.error).not.toBe("");
  return !result.ok;
}

const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
/** `depth` levels alternating array and object, innermost holding a number. */
const mixed = (depth: number): string => {
  let text = "0";
  for (let level = depth; level >= 1; level -= 1) text = level % 2 === 0 ? `{"k":${text}}` : `[${text}]`;
  return text;
};

describe("parseStrictJson", () => {
  it.each([
    "0",
    "-17",
    "9007199254740993",
    "true",
    "false",
    "null",
    '""',
    String.raw`"tab\t quote\" slash\/ back\\ nl\n cr\r bs\b ff\f"`,
    String.raw`"\u00e9\u20ac\ud83d\ude00 \u0000"`,
    '"raw \u00e9 and \u{1f600}"',
    "[]",
    "{}",
    " \t\r\n[ 1 , [ 2 , [ 3 , [ ] ] ] , { } ] \n",
    '{"b":[1,{"c":null}],"a":{"x":"y"},"":true}',
    '[{"a":1},{"a":1}]',
  ])("parses %s exactly as JSON.parse does", (text) => {
    expect(valueOf(text)).toStrictEqual(JSON.parse(text));
  });

  it.each(["-0", "100.0", "1e2", "1E+2", "12.5e-3", "-7.25E10", "1e400", "100.000000000000001", "0.5"])(
    "reads %s, a number not written as an integer, as NaN, which no field accepts",
    (text) => {
      expect(valueOf(text)).toBeNaN();
      expect(valueOf(`{"amount":${text}}`)).toStrictEqual({ amount: Number.NaN });
    },
  );

  it.each([
    ["duplicate keys", '{"a":1,"a":2}'],
    ["duplicate keys spelled by escapes", String.raw`{"a":1,"\u0061":2}`],
    ["nested duplicate keys", '{"x":[{"k":1,"b":0,"k":1}]}'],
    ["a trailing comma in an object", '{"a":1,}'],
    ["a trailing comma in an array", "[1,]"],
    ["a leading comma", "[,1]"],
    ["a leading zero", "01"],
    ["a leading zero in an array", "[01]"],
    ["a bare decimal point", "1."],
    ["a missing integer part", ".5"],
    ["a plus sign", "+1"],
    ["an empty exponent", "1e"],
    ["NaN", "NaN"],
    ["Infinity", "-Infinity"],
    ["single quotes", "'a'"],
    ["single-quoted keys", "{'a':1}"],
    ["unquoted keys", "{a:1}"],
    ["a raw newline in a string", '"a\nb"'],
    ["a raw tab in a string", '"a\tb"'],
    ["a raw NUL in a string", '"a\u0000b"'],
    ["a bad escape", String.raw`"\x41"`],
    ["a short unicode escape", String.raw`"\u00e"`],
    ["an unterminated string", '"abc'],
    ["trailing garbage", '{"a":1}x'],
    ["a second value", "1 2"],
    ["a literal with a tail", "truex"],
    ["a misspelt literal", "nul"],
    ["empty input", ""],
    ["only whitespace", " \n"],
    ["a byte order mark", "\ufeff{}"],
    ["non-JSON whitespace", "\u00a0{}"],
    ["a missing colon", '{"a" 1}'],
    ["a missing value", '{"a":}'],
    ["an unclosed array", "[1"],
    ["an unclosed object", '{"a":1'],
  ])("rejects %s", (_name, text) => {
    expect(rejects(text)).toBe(true);
  });

  describe("depth", () => {
    it("accepts exactly MAX_JSON_DEPTH levels of arrays and objects", () => {
      expect(valueOf(nestedArrays(MAX_JSON_DEPTH))).toStrictEqual(JSON.parse(nestedArrays(MAX_JSON_DEPTH)));
      expect(valueOf(nestedObjects(MAX_JSON_DEPTH))).toStrictEqual(JSON.parse(nestedObjects(MAX_JSON_DEPTH)));
    });

    it("rejects one level more, for arrays and for objects", () => {
      expect(rejects(nestedArrays(MAX_JSON_DEPTH + 1))).toBe(true);
      expect(rejects(nestedObjects(MAX_JSON_DEPTH + 1))).toBe(true);
    });

    it("does not count a scalar as a level", () => {
      const text = "[".repeat(MAX_JSON_DEPTH) + "1" + "]".repeat(MAX_JSON_DEPTH);
      expect(valueOf(text)).toStrictEqual(JSON.parse(text));
    });

    it("counts arrays and objects alike when mixed", () => {
      expect(valueOf(mixed(MAX_JSON_DEPTH))).toStrictEqual(JSON.parse(mixed(MAX_JSON_DEPTH)));
      expect(rejects(mixed(MAX_JSON_DEPTH + 1))).toBe(true);
    });
  });

  it("keeps __proto__ as an own key without touching the prototype", () => {
    const value = valueOf('{"__proto__": 1}');
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toBe(1);
    expect(Object.keys(value as object)).toStrictEqual(["__proto__"]);
  });

  it("does not adopt an object under __proto__ as the prototype", () => {
    const value = valueOf('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(value.polluted).toBeUndefined();
  });
});

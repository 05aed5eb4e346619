import { describe, expect, it } from "vitest";
import { parseIdempotencyKey } from "../../../src/domain/idempotency-key.ts";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../../../src/domain/limits.ts";

function keyOf(header: string | null): string {
  const result = parseIdempotencyKey(header);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(header)} to parse, got ${result.error.code}`);
  return result.value;
}

function codeOf(header: string | null): string | undefined {
  const result = parseIdempotencyKey(header);
  return result.ok ? undefined : result.error.code;
}

describe("parseIdempotencyKey", () => {
  it("reports a missing header", () => {
    expect(codeOf(null)).toBe("idempotency_key_missing");
  });

  it("reads a bare key as it stands", () => {
    expect(keyOf("order-42:retry/1")).toBe("order-42:retry/1");
    expect(keyOf("a;b=1")).toBe("a;b=1");
  });

  it("gives the quoted and bare forms the same key", () => {
    expect(keyOf('"abc"')).toBe("abc");
    expect(keyOf('"abc"')).toBe(keyOf("abc"));
  });

  it('unescapes \\" and \\\\ in a quoted key', () => {
    expect(keyOf(String.raw`"a\"b\\c"`)).toBe('a"b\\c');
  });

  it("ignores the parameters of a quoted item", () => {
    expect(keyOf('"abc";a=1;b="x";c=?1;d=:aGk=:;e')).toBe("abc");
    expect(keyOf('"abc"; f=tok;g=-1.5;h=@1700000000')).toBe("abc");
  });

  it.each([
    ["empty", ""],
    ["only whitespace", "   "],
    ["empty quoted", '""'],
    ["a space inside", "a b"],
    ["a space inside a quoted key", '"a b"'],
    ["a tab inside", "a\tb"],
    ["a control character", "a\u0001b"],
    ["DEL", "a\u007fb"],
    ["non-ASCII", "caf\u00e9"],
    ["non-ASCII quoted", '"caf\u00e9"'],
    ["an emoji", "key-\u{1f600}"],
    ["a bare quote", 'ab"c'],
    ["a bare comma", "a,b"],
    ["an unterminated quote", '"abc'],
    ["a bad escape", String.raw`"a\x"`],
    ["a trailing backslash", '"abc\\'],
    ["a second list member", '"a", "b"'],
    ["text after the item", '"a"b'],
    ["an empty parameter", '"a";'],
    ["an upper-case parameter key", '"a";A=1'],
    ["a parameter with no value after =", '"a";a='],
    ["an integer parameter of 16 digits", '"a";a=1234567890123456'],
    ["the dot segment .", "."],
    ["the dot segment ..", ".."],
    ["the dot segment .. quoted", '".."'],
  ])("rejects %s", (_name, header) => {
    expect(codeOf(header)).toBe("idempotency_key_invalid");
  });

  describe("length", () => {
    const longest = "k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH);
    const tooLong = "k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1);

    it("accepts one character, and dots that are not a whole dot segment", () => {
      expect(keyOf("...")).toBe("...");
      expect(keyOf(".a")).toBe(".a");
      expect(keyOf("k")).toBe("k");
      expect(keyOf('"k"')).toBe("k");
    });

    it("accepts the longest key, bare and quoted", () => {
      expect(keyOf(longest)).toBe(longest);
      expect(keyOf(`"${longest}"`)).toBe(longest);
    });

    it("rejects one character more, bare and quoted", () => {
      expect(codeOf(tooLong)).toBe("idempotency_key_invalid");
      expect(codeOf(`"${tooLong}"`)).toBe("idempotency_key_invalid");
    });

    it("counts an escape as the one character it stands for", () => {
      const escaped = `"${"k".repeat(MAX_IDEMPOTENCY_KEY_LENGTH - 1)}\\""`;
      expect(keyOf(escaped)).toHaveLength(MAX_IDEMPOTENCY_KEY_LENGTH);
    });
  });

  it("accepts every visible ASCII character in a quoted key", () => {
    const visible = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
    const quoted = `"${visible.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    expect(keyOf(quoted)).toBe(visible);
  });
});

import { describe, expect, it } from "vitest";
import devVars from "../../../../.dev.vars?raw";
import { devVarValues, parseDevVars, withDevVar } from "../../../../scripts/settings/dev-vars.ts";

/** `.dev.vars` files read as Wrangler reads them (dotenv's parse), with where each value sits. */

const values = (text: string) =>
  Object.fromEntries([...devVarValues(parseDevVars(text))].map(([name, devVar]) => [name, devVar.value]));

describe("parseDevVars", () => {
  it("reads the repository's .dev.vars as wrangler dev does", () => {
    const file = parseDevVars(devVars);
    expect(values(devVars)).toEqual({
      API_KEYS: '{"dev":["25c34285186e40eb541be598f46c0dd2ca195a12c2601935cdd9dfb7e45e9cdf"]}',
      ALLOW_DEV_KEY: "true",
    });
    expect(file.strayLines).toEqual([]);
    expect(devVarValues(file).get("API_KEYS")).toMatchObject({ line: 5, valueLine: 5, valueColumn: 10 });
  });

  it("unquotes as dotenv does: one pair of quotes, escapes only in double quotes, comments outside quotes", () => {
    const text = [
      "A=plain value  # a comment",
      "B='single # not a comment'",
      'C="line\\none"',
      "D='no\\nescape'",
      "E=`backticks`",
      "export F=exported",
      "G: colon",
      "H=",
      "I = spaced",
      'J="multi',
      'line"',
      "K='unterminated",
    ].join("\n");
    expect(values(text)).toEqual({
      A: "plain value",
      B: "single # not a comment",
      C: "line\none",
      D: "no\\nescape",
      E: "backticks",
      F: "exported",
      G: "colon",
      H: "",
      I: "spaced",
      J: "multi\nline",
      K: "'unterminated",
    });
  });

  it("places each name and value by line and column, across CRLF line ends", () => {
    const file = parseDevVars('# settings\r\n\r\nAPI_KEYS = \'{}\'\r\n  TENANT_JURISDICTIONS={"a":"eu"}\r\n');
    expect(file.vars.map(({ name, line, valueLine, valueColumn }) => [name, line, valueLine, valueColumn])).toEqual([
      ["API_KEYS", 3, 3, 13],
      ["TENANT_JURISDICTIONS", 4, 4, 24],
    ]);
  });

  it("keeps every assignment, so a name set twice is seen, and dotenv's last one wins", () => {
    const file = parseDevVars("A=1\nB=2\nA=3\n");
    expect(file.vars.map(({ name, line }) => [name, line])).toEqual([
      ["A", 1],
      ["B", 2],
      ["A", 3],
    ]);
    expect(devVarValues(file).get("A")?.value).toBe("3");
  });

  it("finds the lines dotenv ignores without a word", () => {
    const file = parseDevVars('A=1\nAPI_KEYS {}\n# comment\n   \nB="two\nlines"\n= no name\n');
    expect(file.strayLines).toEqual([2, 7]);
    expect(values("A=1\nAPI_KEYS {}\n")).toEqual({ A: "1" });
  });
});

describe("withDevVar", () => {
  it("replaces the value dotenv keeps, in place, leaving every other line and a trailing comment as they were", () => {
    const text = "# keys\nAPI_KEYS='{\"old\":[]}'  # rotated monthly\nALLOW_DEV_KEY=false\n";
    const written = withDevVar(parseDevVars(text), "API_KEYS", '{"new":[]}');
    expect(written).toBe('# keys\nAPI_KEYS={"new":[]}  # rotated monthly\nALLOW_DEV_KEY=false\n');
    expect(values(written)).toEqual({ API_KEYS: '{"new":[]}', ALLOW_DEV_KEY: "false" });
  });

  it("replaces a multi-line quoted value whole, and only the last of two", () => {
    const text = 'API_KEYS={"a":[]}\nAPI_KEYS="{\n}"\nB=1\n';
    const written = withDevVar(parseDevVars(text), "API_KEYS", '{"c":[]}');
    expect(written).toBe('API_KEYS={"a":[]}\nAPI_KEYS={"c":[]}\nB=1\n');
    expect(values(written).API_KEYS).toBe('{"c":[]}');
  });

  it("appends a name the file does not set, on a line of its own", () => {
    expect(withDevVar(parseDevVars("B=1"), "API_KEYS", "{}")).toBe("B=1\nAPI_KEYS={}\n");
    expect(withDevVar(parseDevVars(""), "API_KEYS", "{}")).toBe("API_KEYS={}\n");
  });

  it.each(["a # b", "two\nlines", " padded", "'quoted'"])("refuses %j, which would not read back unquoted", (value) => {
    expect(() => withDevVar(parseDevVars(""), "X", value)).toThrow(RangeError);
  });
});

import { err, ok, type Result } from "./result.ts";

/** The parsed value, or why the text is not JSON. */
export type JsonParse = Result<unknown, string>;

/**
 * JSON.parse accepts duplicate object keys (the last one wins), so a body
 * could mean one thing to us and another to a proxy or a log reader. This
 * parser rejects duplicates and nesting deeper than `maxDepth`, and is
 * otherwise RFC 8259 JSON, except that a number not written as an integer
 * reads as NaN (see below).
 */
export function parseStrictJson(text: string, maxDepth: number): JsonParse {
  const parser = new Parser(text, maxDepth);
  try {
    parser.skipWhitespace();
    const value = parser.value(1);
    parser.skipWhitespace();
    if (!parser.atEnd()) parser.fail("unexpected text after the JSON value");
    return ok(value);
  } catch (error) {
    if (error instanceof JsonSyntaxError) return err(error.message);
    throw error;
  }
}

class JsonSyntaxError extends Error {}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const INTEGER_TEXT = /^(?:0|-?[1-9]\d*)$/;
// JSON forbids raw control characters inside strings, so the pattern must name them.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERALS: ReadonlyArray<readonly [string, unknown]> = [
  ["true", true],
  ["false", false],
  ["null", null],
];

class Parser {
  private at = 0;
  private readonly text: string;
  private readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.maxDepth = maxDepth;
  }

  atEnd(): boolean {
    return this.at === this.text.length;
  }

  fail(message: string): never {
    throw new JsonSyntaxError(`${message} at offset ${this.at}`);
  }

  skipWhitespace(): void {
    while (this.at < this.text.length && " \t\n\r".includes(this.text[this.at] as string)) this.at += 1;
  }

  value(depth: number): unknown {
    const ch = this.text[this.at];
    if (ch === "{") return this.object(depth);
    if (ch === "[") return this.array(depth);
    if (ch === '"') return this.string();
    for (const [word, literal] of LITERALS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = this.at;
    const number = NUMBER.exec(this.text);
    if (number === null) this.fail(ch === undefined ? "unexpected end of input" : "unexpected character");
    this.at += number[0].length;
    // Every number the API takes is an integer in minor units: written any other way (100.0, 1e2,
    // -0, 100.000000000000001) it is not an integer, whatever value it rounds to, so it becomes
    // NaN, which no field accepts.
    return INTEGER_TEXT.test(number[0]) ? Number(number[0]) : Number.NaN;
  }

  private string(): string {
    STRING.lastIndex = this.at;
    const match = STRING.exec(this.text);
    if (match === null) this.fail("malformed string");
    this.at += match[0].length;
    // Without an escape, a string's content is its text as written (the pattern refused control characters).
    return match[0].includes("\\") ? (JSON.parse(match[0]) as string) : match[0].slice(1, -1);
  }

  private object(depth: number): Record<string, unknown> {
    this.enter(depth);
    const entries: [string, unknown][] = [];
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.take("}")) return Object.fromEntries(entries);
    do {
      this.skipWhitespace();
      if (this.text[this.at] !== '"') this.fail("expected a string key");
      const key = this.string();
      if (seen.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      this.skipWhitespace();
      if (!this.take(":")) this.fail("expected ':'");
      this.skipWhitespace();
      entries.push([key, this.value(depth + 1)]);
      this.skipWhitespace();
    } while (this.take(","));
    if (!this.take("}")) this.fail("expected ',' or '}'");
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    return Object.fromEntries(entries);
  }

  private array(depth: number): unknown[] {
    this.enter(depth);
    const items: unknown[] = [];
    this.skipWhitespace();
    if (this.take("]")) return items;
    do {
      this.skipWhitespace();
      items.push(this.value(depth + 1));
      this.skipWhitespace();
    } while (this.take(","));
    if (!this.take("]")) this.fail("expected ',' or ']'");
    return items;
  }

  private enter(depth: number): void {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    this.at += 1;
  }

  private take(ch: string): boolean {
    if (this.text[this.at] !== ch) return false;
    this.at += 1;
    return true;
  }
}

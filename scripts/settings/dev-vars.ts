/**
 * Files in `.dev.vars` form (`KEY=value` lines), read as Wrangler reads
 * them: with dotenv's `parse`, whose line pattern and unquoting this copies,
 * so a value means here what it means to `wrangler dev`. On top of that it
 * keeps where each value sits (its line and column), notes a name set
 * twice (dotenv keeps the last) and lines that are no `KEY=value` at all
 * (dotenv skips them without a word), and writes one value back in place.
 * No Node APIs: the tests run it in workerd.
 */

/** One `KEY=value` of the file, as dotenv reads it, and where it sits. */
export interface DevVar {
  readonly name: string;
  readonly value: string;
  /** 1-based line of the name. */
  readonly line: number;
  /** 1-based line and column of the value's first character, inside any quote. */
  readonly valueLine: number;
  readonly valueColumn: number;
  /** Offsets of the whole assignment in the text (`\r\n` counted as one character), for writing it back. */
  readonly start: number;
  readonly end: number;
}

export interface DevVarsFile {
  /** Every assignment, in file order, repeats included. */
  readonly vars: readonly DevVar[];
  /** Lines that are neither blank, a comment nor part of an assignment: dotenv ignores them. */
  readonly strayLines: readonly number[];
  /** The text as read, with `\r\n` and `\r` made `\n`, as dotenv does. */
  readonly text: string;
}

// dotenv 17's LINE (lib/main.js), as Wrangler bundles it.
const LINE =
  /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;
const LEAD = /^\s*(?:export\s+)?/;
const PREFIX = /^\s*(?:export\s+)?[\w.-]+(?:\s*=\s*?|:\s+?)/;

export function parseDevVars(source: string): DevVarsFile {
  const text = source.replace(/\r\n?/g, "\n");
  const vars: DevVar[] = [];
  const covered = new Set<number>();
  const lineAt = lineIndex(text);
  for (const match of text.matchAll(LINE)) {
    const [whole, name = "", rawValue = ""] = match;
    if (whole === "") continue;
    const start = match.index + (LEAD.exec(whole)?.[0].length ?? 0);
    // The value's group starts right after the separator (lazy, as in LINE).
    const groupStart = match.index + (PREFIX.exec(whole)?.[0].length ?? whole.length);
    let value = rawValue.trim();
    const quote = value[0];
    // dotenv: strip one pair of matching quotes; in double quotes, \n and \r are newlines.
    const unquoted = value.replace(/^(['"`])([\s\S]*)\1$/gm, "$2");
    const quoted = unquoted !== value;
    value = unquoted;
    if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\r/g, "\r");
    const valueStart = groupStart + (rawValue.length - rawValue.trimStart().length) + (quoted ? 1 : 0);
    // The assignment ends with its value; a comment after it stays when the value is rewritten.
    const end = groupStart + rawValue.trimEnd().length;
    const first = lineAt(start).line;
    const last = lineAt(match.index + Math.max(whole.trimEnd().length - 1, 0)).line;
    for (let line = first; line <= last; line += 1) covered.add(line);
    const at = lineAt(valueStart);
    vars.push({ name, value, line: first, valueLine: at.line, valueColumn: at.column, start, end });
  }
  const strayLines: number[] = [];
  text.split("\n").forEach((content, i) => {
    const trimmed = content.trim();
    if (trimmed !== "" && !trimmed.startsWith("#") && !covered.has(i + 1)) strayLines.push(i + 1);
  });
  return { vars, strayLines, text };
}

/** The values dotenv would produce: the last assignment of each name wins. */
export function devVarValues(file: DevVarsFile): Map<string, DevVar> {
  const values = new Map<string, DevVar>();
  for (const devVar of file.vars) values.set(devVar.name, devVar);
  return values;
}

/**
 * The file with `name` set to `value`: its last assignment replaced in
 * place (the one dotenv keeps), or a line appended. The value is written
 * unquoted, so it must be one that reads back unchanged that way: one line,
 * no `#`, no surrounding quotes or spaces.
 */
export function withDevVar(file: DevVarsFile, name: string, value: string): string {
  if (/[\n\r#]/.test(value) || value.trim() !== value || /^['"`]/.test(value)) {
    throw new RangeError(`${name}'s new value cannot be written unquoted on one line`);
  }
  const existing = devVarValues(file).get(name);
  const line = `${name}=${value}`;
  if (existing === undefined) {
    const separator = file.text === "" || file.text.endsWith("\n") ? "" : "\n";
    return `${file.text}${separator}${line}\n`;
  }
  return `${file.text.slice(0, existing.start)}${line}${file.text.slice(existing.end)}`;
}

/** Maps an offset of `text` to its 1-based line and column. */
function lineIndex(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let i = 0; i < text.length; i += 1) if (text[i] === "\n") starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] as number) <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - (starts[low] as number) + 1 };
  };
}

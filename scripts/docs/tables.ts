/**
 * The tables docs/api.md shows that the code already knows: the problem
 * catalogue and the limits. They sit between markers in the file; `npm run
 * docs` rewrites them and a test fails when the file has drifted.
 */
import { DOCUMENTED_LIMITS } from "../../src/domain/limits.ts";
import { PROBLEMS, type ProblemCode } from "../../src/domain/problems.ts";

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const GENERATORS: Readonly<Record<string, () => string>> = {
  errors: () =>
    table(
      ["status", "code", "when"],
      (Object.keys(PROBLEMS) as ProblemCode[])
        .map((code) => [String(PROBLEMS[code].status), `\`${code}\``, PROBLEMS[code].when] as const)
        .sort((a, b) => Number(a[0]) - Number(b[0])),
    ),
  limits: () => table(["what", "limit"], DOCUMENTED_LIMITS),
};

const BLOCK = /(<!-- generated: (\w+) \(npm run docs\) -->)[\s\S]*?(<!-- end of generated \2 -->)/g;

/** `markdown` with every generated block rewritten from the code. */
export function withGeneratedTables(markdown: string): string {
  return markdown.replace(BLOCK, (_, open: string, name: string, close: string) => {
    const generate = GENERATORS[name];
    if (generate === undefined) throw new Error(`no generator for the block "${name}"`);
    return `${open}\n${generate()}\n${close}`;
  });
}

/** The names of the generated blocks `markdown` holds. */
export function generatedBlocks(markdown: string): string[] {
  return [...markdown.matchAll(BLOCK)].map((match) => match[2] as string);
}

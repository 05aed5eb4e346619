/**
 * Validated command-line flags for the scripts: each flag is declared once
 * with its default and bounds, and a value that is not a number in range
 * (NaN, "", "1e400", a fraction where an integer is wanted) is a usage error
 * (exit 2), never silently used.
 */
import { parseArgs } from "node:util";

interface NumberFlag<K extends "integer" | "number"> {
  readonly kind: K;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly help: string;
}

export type FlagSpec =
  | NumberFlag<"integer">
  | NumberFlag<"number">
  | { readonly kind: "string"; readonly default?: string; readonly help: string }
  | { readonly kind: "boolean"; readonly help: string };

type Value<S extends FlagSpec> = S extends { kind: "integer" | "number" }
  ? number
  : S extends { kind: "string"; default: string }
    ? string
    : S extends { kind: "string" }
      ? string | undefined
      : boolean;

export type Flags<T extends Record<string, FlagSpec>> = { [K in keyof T]: Value<T[K]> };

export function integer(defaultValue: number, min: number, max: number, help: string): NumberFlag<"integer"> {
  return { kind: "integer", default: defaultValue, min, max, help };
}

export function share(defaultValue: number, min: number, max: number, help: string): NumberFlag<"number"> {
  return { kind: "number", default: defaultValue, min, max, help };
}

/** Parses process.argv against `specs`; prints usage and exits 2 on anything wrong, 0 after --help. */
export function readFlags<T extends Record<string, FlagSpec>>(
  usageLine: string,
  specs: T,
  args: readonly string[] = process.argv.slice(2),
): Flags<T> {
  const help = renderHelp(usageLine, specs);
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [name, spec] of Object.entries(specs))
    options[name] = { type: spec.kind === "boolean" ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error), help);
  }
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (spec.kind === "boolean") out[name] = raw === true;
    else if (spec.kind === "string") out[name] = typeof raw === "string" ? raw : spec.default;
    else out[name] = typeof raw === "string" ? parseNumber(name, raw, spec, help) : spec.default;
  }
  return out as Flags<T>;
}

function parseNumber(name: string, raw: string, spec: NumberFlag<"integer" | "number">, help: string): number {
  const value = /^\s*-?(\d+\.?\d*|\.\d+)\s*$/.test(raw) ? Number(raw) : Number.NaN;
  const integral = spec.kind === "integer";
  if (!Number.isFinite(value) || (integral && !Number.isInteger(value)) || value < spec.min || value > spec.max) {
    usage(
      `--${name} must be ${integral ? "an integer" : "a number"} from ${spec.min} to ${spec.max}, not "${raw}"`,
      help,
    );
  }
  return value;
}

export function renderHelp(usageLine: string, specs: Record<string, FlagSpec>): string {
  const lines = Object.entries(specs).map(([name, spec]) => {
    const shown = spec.kind === "boolean" ? "" : spec.default === undefined ? "" : ` (${spec.default})`;
    return `  --${name.padEnd(16)} ${spec.help}${shown}`;
  });
  return [usageLine, ...lines].join("\n");
}

export function usage(message: string, help: string): never {
  process.stderr.write(`${message}\n\n${help}\n`);
  process.exit(2);
}

/**
 * `npm run settings -- check`: every setting the Worker reads, checked with
 * the Worker's own parsers, so a value passes here exactly when the Worker
 * can use it. Each bad setting is reported once, by name, with the parser's
 * first problem, where the value sits, and what to do about it.
 * No Node APIs: the tests run it in workerd.
 */
import { parseIdempotencyTtlSeconds } from "../../src/config/idempotency-ttl.ts";
import { parsePeriodPolicy } from "../../src/config/period-close-settings.ts";
import { DEV_API_KEY_SHA256, DEV_KEY_ALLOWED } from "../../src/config/dev-key.ts";
import { keyIdOf } from "../../src/config/key-id.ts";
import { parseAllowedOrigins } from "../../src/http/cors.ts";
import { bytesToHex } from "../../src/lib/hex.ts";
import { err, ok, type Result } from "../../src/lib/result.ts";
import { SETTING_FIXES } from "../../src/observability/log.ts";
import { parseKeyTable } from "../../src/transport/api-keys.ts";
import { parseOperatorKeys } from "../../src/transport/operator-keys.ts";
import { parseJurisdictions } from "../../src/transport/tenant-placement.ts";
import { devVarValues, type DevVarsFile } from "./dev-vars.ts";

/** Which rules apply: a deployed Worker (production or staging) never admits the public development key. */
export interface CheckOptions {
  readonly production: boolean;
}

/** A problem, and its own fix when the setting's usual one does not fit it. */
type Problem = string | { problem: string; fix: string };

interface Setting {
  /**
   * What a good value amounts to, for the summary; or the parser's first
   * problem. `valueOf` reads the other settings, for a parser that needs one.
   */
  check(
    raw: string | undefined,
    options: CheckOptions,
    valueOf: (name: string) => string | undefined,
  ): Result<string, Problem>;
  readonly fix: string;
}

const ALLOW_DEV_KEY_FIX = `delete ALLOW_DEV_KEY, or set it to ${DEV_KEY_ALLOWED} only in .dev.vars for \`wrangler dev\``;

/**
 * Every text setting the Worker reads (`env.NAME`: src/settings.d.ts and the
 * generated worker-configuration.d.ts; a unit test keeps this list equal to
 * theirs). Bindings are not settings: wrangler.toml declares them.
 */
export const SETTINGS = {
  API_KEYS: {
    check(raw, options) {
      const table = parseKeyTable(raw);
      if (!table.ok) return table;
      const tenants = new Set(table.value.map(({ tenant }) => tenant));
      if (options.production && table.value.some(({ digest }) => bytesToHex(digest) === DEV_API_KEY_SHA256)) {
        return err({
          problem: "API_KEYS lists the development key's digest, and that key is public (a copy of .dev.vars?)",
          fix: `revoke it: npm run settings -- keys revoke ${keyIdOf(DEV_API_KEY_SHA256)}`,
        });
      }
      return ok(`${plural(tenants.size, "tenant")}, ${plural(table.value.length, "key")}`);
    },
    fix: SETTING_FIXES.API_KEYS,
  },
  TENANT_JURISDICTIONS: {
    check(raw) {
      const table = parseJurisdictions(raw);
      if (!table.ok) return table;
      return ok(table.value.size === 0 ? "no tenant pinned" : `${plural(table.value.size, "tenant")} pinned`);
    },
    fix: SETTING_FIXES.TENANT_JURISDICTIONS,
  },
  IDEMPOTENCY_TTL_SECONDS: {
    check(raw) {
      // The parser's message carries its own fix for the Worker's log; the report has the setting's.
      const seconds = thrown(() => parseIdempotencyTtlSeconds(raw));
      if (!seconds.ok) return err(seconds.error.problem);
      return ok(`${seconds.value}${isBlank(raw) ? " (default)" : ""}`);
    },
    fix: SETTING_FIXES.IDEMPOTENCY_TTL_SECONDS,
  },
  PERIOD_CLOSE_AFTER_SECONDS: {
    check(raw) {
      const policy = thrown(() => parsePeriodPolicy({ PERIOD_CLOSE_AFTER_SECONDS: raw }));
      if (!policy.ok) return policy;
      return ok(`${policy.value.closeAfterMs / 1000}${isBlank(raw) ? " (default)" : ""}`);
    },
    fix: "set it in range, or delete it for the default",
  },
  PERIOD_CLOSE_AT_ENTRIES: {
    check(raw) {
      const policy = thrown(() => parsePeriodPolicy({ PERIOD_CLOSE_AT_ENTRIES: raw }));
      if (!policy.ok) return policy;
      return ok(`${policy.value.closeAtEntries}${isBlank(raw) ? " (default)" : ""}`);
    },
    fix: "set it in range, or delete it for the default",
  },
  CORS_ALLOWED_ORIGINS: {
    check(raw) {
      const origins = parseAllowedOrigins(raw);
      if (!origins.ok) return origins;
      return ok(origins.value.length === 0 ? "none (CORS off)" : plural(origins.value.length, "origin"));
    },
    fix: SETTING_FIXES.CORS_ALLOWED_ORIGINS,
  },
  OPERATOR_KEYS: {
    check(raw, _options, valueOf) {
      const operators = parseOperatorKeys(raw, valueOf("API_KEYS"));
      if (!operators.ok) return operators;
      if (operators.value.length === 0) return ok("no operator");
      const names = new Set(operators.value.map(({ operator }) => operator));
      return ok(`${plural(names.size, "operator")}, ${plural(operators.value.length, "key")}`);
    },
    fix: SETTING_FIXES.OPERATOR_KEYS,
  },
  ALLOW_DEV_KEY: {
    check(raw, options) {
      // The Worker admits the development key where the value is exactly "true", and nowhere else.
      const value = raw ?? "";
      if (value === DEV_KEY_ALLOWED && options.production) {
        return err(
          `ALLOW_DEV_KEY is "${DEV_KEY_ALLOWED}": a deployed Worker would admit the development key, which is public`,
        );
      }
      if (value === DEV_KEY_ALLOWED) return ok("the development key is admitted");
      if (value === "" || value === "false") return ok("the development key is refused");
      return err(
        `ALLOW_DEV_KEY is ${JSON.stringify(value)}: the Worker admits the development key only where it is exactly "${DEV_KEY_ALLOWED}", so this refuses it; write "false" or nothing`,
      );
    },
    fix: ALLOW_DEV_KEY_FIX,
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Where the values come from: a file in `.dev.vars` form, or a process environment. */
export type SettingsSource =
  | { readonly kind: "file"; readonly path: string; readonly file: DevVarsFile }
  | { readonly kind: "environment"; readonly env: Readonly<Record<string, string | undefined>> };

export interface SettingProblem {
  /** The setting, or null for a line of the file that sets nothing. */
  readonly setting: string | null;
  /** Where: a file's line (and column), or the environment variable. */
  readonly place: string;
  readonly problem: string;
  readonly fix: string;
}

export interface SettingsReport {
  readonly problems: readonly SettingProblem[];
  /** One line per setting that passed: what its value amounts to. */
  readonly summary: ReadonlyArray<readonly [SettingName, string]>;
}

/** Checks every setting of `source`; `problems` is empty when the Worker can use them all. */
export function checkSettings(source: SettingsSource, options: CheckOptions): SettingsReport {
  const problems: SettingProblem[] = [];
  const summary: [SettingName, string][] = [];
  const values = source.kind === "file" ? devVarValues(source.file) : undefined;

  if (source.kind === "file") {
    const lines = new Map<string, number[]>();
    for (const { name, line } of source.file.vars) lines.set(name, [...(lines.get(name) ?? []), line]);
    for (const [name, at] of lines) {
      const where = `${source.path} line ${at.join(", ")}`;
      if (!Object.hasOwn(SETTINGS, name)) {
        problems.push({
          setting: name,
          place: where,
          problem: `${name} is not a setting the Worker reads (it reads ${SETTING_NAMES.join(", ")})`,
          fix: `remove ${name}, or correct its name`,
        });
      } else if (at.length > 1) {
        problems.push({
          setting: name,
          place: where,
          problem: `${name} is set ${at.length} times; Wrangler keeps the last, which is easy to miss`,
          fix: `keep one ${name} line`,
        });
      }
    }
    for (const line of source.file.strayLines) {
      problems.push({
        setting: null,
        place: `${source.path} line ${line}`,
        problem: "this line is not NAME=value, a comment or blank, so Wrangler ignores it",
        fix: "write it as NAME=value, or make it a comment with #",
      });
    }
  }

  for (const name of SETTING_NAMES) {
    const setting: Setting = SETTINGS[name];
    const found = values?.get(name);
    const raw = source.kind === "file" ? found?.value : source.env[name];
    const checked = setting.check(raw, options, (other) =>
      source.kind === "file" ? values?.get(other)?.value : source.env[other],
    );
    if (checked.ok) {
      summary.push([name, checked.value]);
      continue;
    }
    let place: string;
    if (source.kind === "environment") place = `environment variable ${name}`;
    else if (found === undefined) place = `${source.path} (not set there)`;
    else place = `${source.path} line ${found.valueLine}${columnOf(checked.error, found)}`;
    const { problem, fix } =
      typeof checked.error === "string" ? { problem: checked.error, fix: setting.fix } : checked.error;
    problems.push({ setting: name, place, problem, fix });
  }
  return { problems, summary };
}

/** A JSON parser's "at offset N", as the column of the file where the value holds it, if on its first line. */
function columnOf(problem: string | { problem: string }, found: { value: string; valueColumn: number }): string {
  const offset = /at offset (\d+)\b/.exec(typeof problem === "string" ? problem : problem.problem)?.[1];
  if (offset === undefined) return "";
  const at = Number(offset);
  if (found.value.slice(0, at).includes("\n")) return "";
  return `, column ${found.valueColumn + at}`;
}

/** One line per problem, naming the setting, its place, the problem and the fix. */
export function formatProblem(problem: SettingProblem): string {
  const subject = problem.setting === null ? problem.place : `${problem.setting} (${problem.place})`;
  return `${subject}: ${problem.problem}. Fix: ${problem.fix}.`;
}

/**
 * A parser that throws RangeError on a bad value (the account object's
 * settings): its message, split into the problem and the fix it names.
 */
function thrown<T>(parse: () => T): Result<T, { problem: string; fix: string }> {
  try {
    return ok(parse());
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    const [problem = error.message, fix = "correct it"] = error.message.split("; fix: ");
    return err({ problem, fix });
  }
}

function isBlank(raw: string | undefined): boolean {
  return raw === undefined || raw.trim() === "";
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

import { describe, expect, it } from "vitest";
import devVars from "../../../../.dev.vars?raw";
import settingsDeclarations from "../../../../src/settings.d.ts?raw";
import generatedDeclarations from "../../../../worker-configuration.d.ts?raw";
import {
  checkSettings,
  formatProblem,
  SETTING_NAMES,
  type CheckOptions,
  type SettingsSource,
} from "../../../../scripts/settings/check.ts";
import { parseDevVars } from "../../../../scripts/settings/dev-vars.ts";
import { DEV_API_KEY_SHA256 } from "../../../../src/config/dev-key.ts";
import { sha256Hex } from "../../../../src/lib/sha256.ts";
import { SETTING_FIXES } from "../../../../src/observability/log.ts";

/** `npm run settings -- check`: every setting, the Worker's parsers, one line per problem naming its place and fix. */

const LOCAL: CheckOptions = { production: false };
const PRODUCTION: CheckOptions = { production: true };
const ACME = sha256Hex("olk_test_acme");
const GLOBEX = sha256Hex("olk_test_globex");
const OPERATOR = sha256Hex("olk_test_operator");
const GOOD = {
  API_KEYS: JSON.stringify({ acme: [ACME], globex: [GLOBEX] }),
  TENANT_JURISDICTIONS: '{"acme":"eu"}',
  IDEMPOTENCY_TTL_SECONDS: "3600",
  CORS_ALLOWED_ORIGINS: "https://admin.example.com",
  PERIOD_CLOSE_AFTER_SECONDS: "7200",
  PERIOD_CLOSE_AT_ENTRIES: "5000",
  OPERATOR_KEYS: JSON.stringify({ oncall: [OPERATOR] }),
};

const file = (text: string, path = "prod.vars"): SettingsSource => ({ kind: "file", path, file: parseDevVars(text) });
const lines = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");

describe("the settings checked", () => {
  it("are every text setting the Worker declares (src/settings.d.ts, worker-configuration.d.ts)", () => {
    const declared = new Set<string>();
    for (const [, name] of settingsDeclarations.matchAll(/^\s+([A-Z][A-Z0-9_]*)\??: string;/gm))
      declared.add(name as string);
    const base = /interface __BaseEnv_Env \{([^}]*)\}/.exec(generatedDeclarations)?.[1] ?? "";
    for (const [, name] of base.matchAll(/^\s+([A-Z][A-Z0-9_]*)\??: string;/gm)) declared.add(name as string);
    expect(declared.size).toBeGreaterThanOrEqual(5);
    expect(
      [...SETTING_NAMES].sort(),
      "a new setting of the Worker goes in SETTINGS (scripts/settings/check.ts), checked with the Worker's parser",
    ).toEqual([...declared].sort());
  });
});

describe("checkSettings", () => {
  it("passes good values, from a file or the environment, and says what each amounts to", () => {
    for (const source of [file(lines(GOOD)), { kind: "environment", env: GOOD } as const]) {
      const report = checkSettings(source, PRODUCTION);
      expect(report.problems).toEqual([]);
      expect(Object.fromEntries(report.summary)).toEqual({
        API_KEYS: "2 tenants, 2 keys",
        TENANT_JURISDICTIONS: "1 tenant pinned",
        IDEMPOTENCY_TTL_SECONDS: "3600",
        CORS_ALLOWED_ORIGINS: "1 origin",
        PERIOD_CLOSE_AFTER_SECONDS: "7200",
        PERIOD_CLOSE_AT_ENTRIES: "5000",
        OPERATOR_KEYS: "1 operator, 1 key",
        ALLOW_DEV_KEY: "the development key is refused",
      });
    }
  });

  it("passes the repository's .dev.vars by local rules", () => {
    expect(checkSettings(file(devVars, ".dev.vars"), LOCAL).problems).toEqual([]);
  });

  it("refuses the repository's .dev.vars as a deployed Worker's: ALLOW_DEV_KEY=true and the development key's digest", () => {
    const problems = checkSettings(file(devVars, ".dev.vars"), PRODUCTION).problems;
    expect(problems.map(({ setting, place }) => [setting, place])).toEqual([
      ["API_KEYS", ".dev.vars line 5"],
      ["ALLOW_DEV_KEY", ".dev.vars line 6"],
    ]);
    expect(problems[0]?.fix).toContain(`keys revoke ${DEV_API_KEY_SHA256.slice(0, 8)}`);
    expect(problems[1]?.problem).toContain('ALLOW_DEV_KEY is "true"');
  });

  it("refuses ALLOW_DEV_KEY=true in production, whatever else the file holds", () => {
    const problems = checkSettings(file(lines({ ...GOOD, ALLOW_DEV_KEY: "true" })), PRODUCTION).problems;
    expect(problems.map(({ setting }) => setting)).toEqual(["ALLOW_DEV_KEY"]);
    expect(checkSettings(file(lines({ ...GOOD, ALLOW_DEV_KEY: "true" })), LOCAL).problems).toEqual([]);
    expect(checkSettings(file(lines({ ...GOOD, ALLOW_DEV_KEY: "false" })), PRODUCTION).problems).toEqual([]);
  });

  it.each(["TRUE", "1", "yes", " true"])("refuses ALLOW_DEV_KEY=%j, which looks on and is off", (value) => {
    const [problem] = checkSettings({ kind: "environment", env: { ...GOOD, ALLOW_DEV_KEY: value } }, LOCAL).problems;
    expect(problem).toMatchObject({ setting: "ALLOW_DEV_KEY", place: "environment variable ALLOW_DEV_KEY" });
  });

  it.each([
    [
      "API_KEYS",
      "not json",
      "API_KEYS is not valid JSON: unexpected character at offset 0",
      "prod.vars line 1, column 10",
    ],
    [
      "API_KEYS",
      '{"acme":["abc"]}',
      "API_KEYS[acme] holds something that is not a lower-case SHA-256 hex digest",
      "prod.vars line 1",
    ],
    [
      "API_KEYS",
      `{"acme":["${ACME}"],"globex":["${ACME}"]}`,
      "API_KEYS lists one digest under both acme and globex",
      "prod.vars line 1",
    ],
    [
      "API_KEYS",
      `{"acme":["${ACME}"],"acme":[]}`,
      "API_KEYS is not valid JSON: duplicate key",
      "prod.vars line 1, column 93",
    ],
    ["TENANT_JURISDICTIONS", '{"acme":"mars"}', "TENANT_JURISDICTIONS[acme] must be one of", "prod.vars line 2"],
    ["TENANT_JURISDICTIONS", '{"acme":"eu",}', "TENANT_JURISDICTIONS is not valid JSON", "prod.vars line 2, column 35"],
    [
      "IDEMPOTENCY_TTL_SECONDS",
      "59",
      'IDEMPOTENCY_TTL_SECONDS must be an integer from 60 to 2592000, got "59"',
      "prod.vars line 3",
    ],
    ["CORS_ALLOWED_ORIGINS", "https://admin.example.com/", "CORS_ALLOWED_ORIGINS entry", "prod.vars line 4"],
  ])("names %s, the parser's first problem with %j, and its place", (name, value, problem, place) => {
    const report = checkSettings(file(lines({ ...GOOD, [name]: value })), PRODUCTION);
    expect(report.problems).toHaveLength(1);
    const [found] = report.problems;
    expect(found?.setting).toBe(name);
    expect(found?.problem).toContain(problem);
    expect(found?.place).toBe(place);
    expect(found?.fix).toBe(SETTING_FIXES[name as keyof typeof SETTING_FIXES]);
    expect(found?.problem).not.toContain("fix:");
    expect(report.summary.map(([setting]) => setting)).not.toContain(name);
  });

  it.each([
    ["PERIOD_CLOSE_AFTER_SECONDS", "60", "PERIOD_CLOSE_AFTER_SECONDS must be an integer from 3600", "prod.vars line 5"],
    [
      "PERIOD_CLOSE_AT_ENTRIES",
      "a million",
      "PERIOD_CLOSE_AT_ENTRIES must be an integer from 1000",
      "prod.vars line 6",
    ],
  ])("names %s with the fix its own parser gives, apart from the problem", (name, value, problem, place) => {
    const [found, ...more] = checkSettings(file(lines({ ...GOOD, [name]: value })), PRODUCTION).problems;
    expect(more).toEqual([]);
    expect(found).toMatchObject({ setting: name, place, fix: expect.stringContaining("delete it for the default") });
    expect(found?.problem).toContain(problem);
    expect(found?.problem).not.toContain("fix:");
  });

  it("refuses an OPERATOR_KEYS digest that API_KEYS also lists: that tenant's key would act as operator", () => {
    const [found, ...more] = checkSettings(
      file(lines({ ...GOOD, OPERATOR_KEYS: JSON.stringify({ oncall: [ACME] }) })),
      PRODUCTION,
    ).problems;
    expect(more).toEqual([]);
    expect(found).toMatchObject({ setting: "OPERATOR_KEYS", place: "prod.vars line 7" });
    expect(found?.problem).toContain("OPERATOR_KEYS[oncall] lists a digest that API_KEYS lists under tenant acme");
    expect(checkSettings(file(lines({ ...GOOD, OPERATOR_KEYS: "" })), PRODUCTION).summary).toContainEqual([
      "OPERATOR_KEYS",
      "no operator",
    ]);
  });

  it("refuses a missing API_KEYS, as the Worker fails closed without it, naming the file", () => {
    const { API_KEYS: _, ...rest } = GOOD;
    expect(checkSettings(file(lines(rest)), PRODUCTION).problems).toEqual([
      {
        setting: "API_KEYS",
        place: "prod.vars (not set there)",
        problem: "API_KEYS is not set",
        fix: SETTING_FIXES.API_KEYS,
      },
    ]);
    expect(checkSettings({ kind: "environment", env: {} }, LOCAL).problems.map(({ setting }) => setting)).toEqual([
      "API_KEYS",
    ]);
  });

  it("refuses a name the Worker does not read, a setting set twice and a line Wrangler ignores", () => {
    const text = `${lines(GOOD)}\nAPI_KEY=x\nTENANT_JURISDICTIONS={}\nCORS_ALLOWED_ORIGINS https://a.example\n`;
    const problems = checkSettings(file(text), PRODUCTION).problems;
    expect(problems.map(({ setting, place }) => [setting, place])).toEqual([
      ["TENANT_JURISDICTIONS", "prod.vars line 2, 9"],
      ["API_KEY", "prod.vars line 8"],
      [null, "prod.vars line 10"],
    ]);
  });

  it("reports every bad setting, each once, in one run", () => {
    const env = Object.fromEntries(SETTING_NAMES.map((name) => [name, "[]"]));
    expect(checkSettings({ kind: "environment", env }, LOCAL).problems.map(({ setting }) => setting)).toEqual(
      SETTING_NAMES,
    );
  });
});

describe("formatProblem", () => {
  it("is one line naming the setting, its place, the problem and the fix", () => {
    const [problem] = checkSettings(file(lines({ ...GOOD, TENANT_JURISDICTIONS: "nope" })), LOCAL).problems;
    const line = formatProblem(problem ?? expect.fail("no problem"));
    expect(line).toBe(
      `TENANT_JURISDICTIONS (prod.vars line 2, column 22): TENANT_JURISDICTIONS is not valid JSON: unexpected character at offset 0. Fix: ${SETTING_FIXES.TENANT_JURISDICTIONS}.`,
    );
    expect(line).not.toContain("\n");
  });
});

import { describe, expect, it } from "vitest";
import { deploySteps, outcomeLine, runSteps, type Step } from "../../../../scripts/deploy/steps.ts";

/** `npm run deploy`: every check, in order, then wrangler deploy; the first failure stops it. */

const commandOf = (step: Step) => [step.program, ...step.args].join(" ");

describe("deploySteps", () => {
  it("checks the code, the bundles and the deployment's settings, then deploys the environment", () => {
    const steps = deploySteps({
      environment: "staging",
      settingsFile: "staging.vars",
      dryRun: false,
      upload: false,
      tag: null,
    });
    expect(steps.map(commandOf)).toEqual([
      "npm run check",
      "npm run check:deploy",
      "node scripts/settings.ts check --file staging.vars --production",
      "wrangler deploy --env=staging",
    ]);
    expect(steps.map(({ uploads }) => uploads)).toEqual([false, false, false, true]);
  });

  it("checks the local .dev.vars by local rules when no settings are given, and names production explicitly", () => {
    expect(
      deploySteps({ environment: "", settingsFile: null, dryRun: false, upload: false, tag: null })
        .slice(2)
        .map(commandOf),
    ).toEqual(["node scripts/settings.ts check --file .dev.vars", "wrangler deploy --env="]);
  });

  it("on a dry run, builds without uploading", () => {
    const last = deploySteps({ environment: "", settingsFile: null, dryRun: true, upload: false, tag: null }).at(-1);
    expect(last && commandOf(last)).toBe("wrangler deploy --env= --dry-run");
    expect(last?.uploads).toBe(false);
  });

  it("with --upload, ends with a version upload, tagged, that takes no traffic", () => {
    const options = { environment: "", settingsFile: "production.vars", dryRun: false, upload: true, tag: "3f9700b" };
    const last = deploySteps(options).at(-1);
    expect(last && commandOf(last)).toBe("wrangler versions upload --env= --tag 3f9700b");
    expect(last?.name).toBe("upload a version to production");
    expect(outcomeLine({ ok: true, ran: [] }, options)).toBe(
      "deploy: every check passed and a new version of production is uploaded, taking no traffic: `wrangler versions deploy` gives it some",
    );
  });
});

describe("runSteps", () => {
  const options = { environment: "staging", settingsFile: "staging.vars", dryRun: false, upload: false, tag: null };
  const steps = deploySteps(options);

  /** A runner that records each command and fails the one named in `failing`. */
  function fakeRunner(failing: string | null, code = 1) {
    const ran: string[] = [];
    const run = (step: Step) => {
      ran.push(commandOf(step));
      return Promise.resolve(commandOf(step).startsWith(failing ?? "\0") ? code : 0);
    };
    return { ran, run };
  }

  it("runs every step in order, and deploys last", async () => {
    const { ran, run } = fakeRunner(null);
    const progress: string[] = [];
    const outcome = await runSteps(steps, run, (line) => progress.push(line));
    expect(ran).toEqual(steps.map(commandOf));
    expect(outcome.ok).toBe(true);
    expect(progress[0]).toBe("deploy: step 1 of 4: type-check, lint and format check");
    expect(outcomeLine(outcome, options)).toBe("deploy: every check passed and env.staging is deployed");
  });

  it.each([
    ["npm run check", 2, 1],
    ["npm run check:deploy", 1, 2],
    ["node scripts/settings.ts", 1, 3],
  ])(
    "stops at a failing %s (exit %i): nothing after it runs, wrangler deploy least of all",
    async (failing, code, count) => {
      const { ran, run } = fakeRunner(failing, code);
      const outcome = await runSteps(steps, run);
      expect(ran).toHaveLength(count);
      expect(ran.at(-1)).toContain(failing);
      expect(ran.some((command) => command.startsWith("wrangler"))).toBe(false);
      expect(outcome).toMatchObject({ ok: false, code });
      expect(outcomeLine(outcome, options)).toMatch(
        /^deploy: stopped: ".*" failed \(exit \d\); nothing was deployed to env\.staging$/,
      );
    },
  );

  it("says a failed wrangler deploy may have reached Cloudflare, not that nothing did", async () => {
    const { run } = fakeRunner("wrangler deploy", 1);
    const outcome = await runSteps(steps, run);
    expect(outcomeLine(outcome, options)).toBe(
      "deploy: wrangler deploy failed (exit 1): its output above says what, if anything, reached env.staging",
    );
  });
});

/**
 * `npm run deploy`: the checks a deployment must pass, in order, then
 * `wrangler deploy`; the first step that fails stops the run, so nothing
 * reaches Cloudflare that did not pass every check.
 * No Node APIs: the tests run it in workerd with a runner of their own.
 */

export interface Step {
  /** What the step is, for the progress lines. */
  readonly name: string;
  /** The program and its arguments: `node` for the project's own Node, `npm`, or `wrangler`. */
  readonly program: "node" | "npm" | "wrangler";
  readonly args: readonly string[];
  /** Whether the step uploads: only the last one does. */
  readonly uploads: boolean;
}

export interface DeployOptions {
  /** The Wrangler environment ("" for production, the top level). */
  readonly environment: string;
  /** The deployment's settings, in `.dev.vars` form, checked by a deployed Worker's rules; null: the local .dev.vars. */
  readonly settingsFile: string | null;
  /** `--dry-run` to Wrangler: every check and the build, no upload. */
  readonly dryRun: boolean;
  /** `wrangler versions upload` instead of `wrangler deploy`: a new version that takes no traffic yet. */
  readonly upload: boolean;
  /** A tag for the new version (`--tag`), e.g. the git commit, or null. */
  readonly tag: string | null;
}

/** The local development settings, checked when no deployment's settings are given. */
export const LOCAL_SETTINGS_FILE = ".dev.vars";

/** The steps of a deploy, in the order they run. */
export function deploySteps(options: DeployOptions): Step[] {
  const settings =
    options.settingsFile === null
      ? ["scripts/settings.ts", "check", "--file", LOCAL_SETTINGS_FILE]
      : ["scripts/settings.ts", "check", "--file", options.settingsFile, "--production"];
  return [
    { name: "type-check, lint and format check", program: "npm", args: ["run", "check"], uploads: false },
    {
      name: "the bundle of every environment and its budget",
      program: "npm",
      args: ["run", "check:deploy"],
      uploads: false,
    },
    {
      name:
        options.settingsFile === null
          ? `the settings in ${LOCAL_SETTINGS_FILE}`
          : `the settings in ${options.settingsFile}`,
      program: "node",
      args: settings,
      uploads: false,
    },
    {
      name: `${options.upload ? "upload a version to" : "deploy to"} ${targetOf(options)}`,
      program: "wrangler",
      args: [
        ...(options.upload ? ["versions", "upload"] : ["deploy"]),
        // `--env=` names the top level: Wrangler asks for it once the config has environments.
        `--env=${options.environment}`,
        ...(options.tag === null ? [] : ["--tag", options.tag]),
        ...(options.dryRun ? ["--dry-run"] : []),
      ],
      uploads: !options.dryRun,
    },
  ];
}

/** Runs one step to its end: its exit code. */
export type StepRunner = (step: Step) => Promise<number>;

export type DeployOutcome =
  | { readonly ok: true; readonly ran: readonly string[] }
  | { readonly ok: false; readonly ran: readonly string[]; readonly failed: Step; readonly code: number };

/** Runs `steps` one after the other and stops at the first that exits non-zero. */
export async function runSteps(
  steps: readonly Step[],
  run: StepRunner,
  progress: (line: string) => void = () => undefined,
): Promise<DeployOutcome> {
  const ran: string[] = [];
  for (const [i, step] of steps.entries()) {
    progress(`deploy: step ${i + 1} of ${steps.length}: ${step.name}`);
    const code = await run(step);
    ran.push(step.name);
    if (code !== 0) return { ok: false, ran, failed: step, code };
  }
  return { ok: true, ran };
}

/** The line that ends a run. */
export function outcomeLine(outcome: DeployOutcome, options: DeployOptions): string {
  const target = targetOf(options);
  const wrangler = options.upload ? "wrangler versions upload" : "wrangler deploy";
  if (!outcome.ok && outcome.failed.uploads) {
    return `deploy: ${wrangler} failed (exit ${outcome.code}): its output above says what, if anything, reached ${target}`;
  }
  if (!outcome.ok) {
    return `deploy: stopped: "${outcome.failed.name}" failed (exit ${outcome.code}); nothing was deployed to ${target}`;
  }
  if (options.dryRun) return `deploy: every check passed and ${target} was built (--dry-run: nothing uploaded)`;
  return options.upload
    ? `deploy: every check passed and a new version of ${target} is uploaded, taking no traffic: \`wrangler versions deploy\` gives it some`
    : `deploy: every check passed and ${target} is deployed`;
}

function targetOf(options: DeployOptions): string {
  return options.environment === "" ? "production" : `env.${options.environment}`;
}

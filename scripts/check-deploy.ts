/**
 * `npm run check:deploy`: builds the Worker exactly as `wrangler deploy`
 * would, without uploading (`wrangler deploy --dry-run`), for production
 * (wrangler.toml's top level) and every environment beside it, prints each
 * bundle's size raw and gzipped, and fails past the budget. A bigger bundle
 * costs every cold start, so growth is a decision, not an accident. Each
 * environment must also be a safe sibling of production: a Worker of its
 * own, the same bindings, no queue, bucket or object namespace shared
 * (scripts/deploy/environments.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundle } from "./bench/bundle.ts";
import { environmentProblems, type EnvironmentFacts } from "./deploy/environments.ts";
import { environmentNames, ROOT, WRANGLER_CONFIG } from "./settings/wrangler-cli.ts";

/** The gzipped bundle may not exceed this (README, "Deploy"): raised from 100 KiB when periods, the archive, dead letters and restore came, from 128 KiB with the locator, and from 144 KiB with holds and transfers (149 KiB then; the OpenAPI document alone grew from 12 to 17 KiB gzipped). */
export const BUNDLE_BUDGET_GZIP_BYTES = 160 * 1024;

/** What this script reads of Wrangler's config API (typed here: its declarations name a package it bundles). */
interface WranglerConfigApi {
  unstable_readConfig(args: { config: string; env?: string }, options: { hideWarnings: boolean }): ResolvedConfig;
  unstable_convertConfigBindingsToStartWorkerBindings(config: ResolvedConfig): EnvironmentFacts["bindings"] | undefined;
}
interface ResolvedConfig {
  readonly name?: string;
  readonly queues: { readonly consumers?: EnvironmentFacts["consumers"] };
}

const wrangler = (await import("wrangler")) as unknown as WranglerConfigApi;
const environments = ["", ...(await environmentNames())];
const label = (environment: string) => (environment === "" ? "production" : `env.${environment}`);

function factsOf(environment: string): EnvironmentFacts {
  const config = wrangler.unstable_readConfig(
    { config: WRANGLER_CONFIG, ...(environment === "" ? {} : { env: environment }) },
    { hideWarnings: true },
  );
  return {
    environment,
    workerName: config.name ?? "",
    bindings: wrangler.unstable_convertConfigBindingsToStartWorkerBindings(config) ?? {},
    consumers: config.queues.consumers ?? [],
  };
}

const production = factsOf("");
const logDir = mkdtempSync(join(tmpdir(), "onceledger-deploy-check-"));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
try {
  for (const environment of environments) {
    const facts = environment === "" ? production : factsOf(environment);
    if (environment !== "") {
      const problems = environmentProblems(production, facts);
      for (const problem of problems) console.error(`check:deploy: ${problem}`);
      if (problems.length > 0) process.exitCode = 1;
    }
    const outDir = join(ROOT, ".wrangler", "dry-run", environment === "" ? "production" : environment);
    // `--env=` names the top level: Wrangler asks for it once the config has environments.
    const bundle = await buildBundle([], WRANGLER_CONFIG, join(ROOT, "src", "index.ts"), outDir, logDir, [
      `--env=${environment}`,
    ]);
    console.log(
      `${label(environment)} (Worker ${facts.workerName}): bundle ${kib(bundle.rawBytes)} raw, ${kib(bundle.gzipBytes)} gzip (budget ${kib(BUNDLE_BUDGET_GZIP_BYTES)} gzip), ${bundle.modules.length} module(s) in ${outDir}`,
    );
    if (bundle.gzipBytes > BUNDLE_BUDGET_GZIP_BYTES) {
      console.error(
        `check:deploy: ${label(environment)}'s gzipped bundle is over its budget by ${kib(bundle.gzipBytes - BUNDLE_BUDGET_GZIP_BYTES)}`,
      );
      process.exitCode = 1;
    }
  }
} finally {
  rmSync(logDir, { recursive: true, force: true });
}

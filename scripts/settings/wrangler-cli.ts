/**
 * The project's own Wrangler, for the scripts that run it (the key edits'
 * `wrangler secret put`, the gated deploy), and the environments
 * wrangler.toml defines, read with Wrangler's own config reader.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const WRANGLER_CONFIG = join(ROOT, "wrangler.toml");

/** The path of Wrangler's CLI entry (its package exports no bin path; package.json sits beside bin/). */
export function wranglerCli(): string {
  return join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/** What the scripts read of Wrangler's config API (typed here: its declarations name a package it bundles). */
interface WranglerConfigApi {
  experimental_readRawConfig(
    args: { config: string },
    options: { hideWarnings: boolean },
  ): { rawConfig: { env?: Record<string, unknown> } };
}

/** The named environments of `configPath` (production, the top level, is not one of them). */
export async function environmentNames(configPath: string = WRANGLER_CONFIG): Promise<string[]> {
  const wrangler = (await import("wrangler")) as unknown as WranglerConfigApi;
  const { rawConfig } = wrangler.experimental_readRawConfig({ config: configPath }, { hideWarnings: true });
  return Object.keys(rawConfig.env ?? {});
}

/**
 * `npm run check:deploy`: builds the Worker exactly as `wrangler deploy`
 * would, without uploading (`wrangler deploy --dry-run`), prints the bundle's
 * size raw and gzipped, and fails past the budget. A bigger bundle costs
 * every cold start, so growth is a decision, not an accident.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundle } from "./bench/bundle.ts";

/** The gzipped bundle may not exceed this (README, "Deploy"). */
export const BUNDLE_BUDGET_GZIP_BYTES = 100 * 1024;

const ROOT = new URL("..", import.meta.url).pathname;
const outDir = join(ROOT, ".wrangler", "dry-run");
const logDir = mkdtempSync(join(tmpdir(), "onceledger-deploy-check-"));
try {
  const bundle = await buildBundle([], join(ROOT, "wrangler.toml"), join(ROOT, "src", "index.ts"), outDir, logDir);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(
    `bundle: ${kib(bundle.rawBytes)} raw, ${kib(bundle.gzipBytes)} gzip (budget ${kib(BUNDLE_BUDGET_GZIP_BYTES)} gzip), ${bundle.modules.length} module(s) in ${outDir}`,
  );
  if (bundle.gzipBytes > BUNDLE_BUDGET_GZIP_BYTES) {
    console.error(
      `check:deploy: the gzipped bundle is over its budget by ${kib(bundle.gzipBytes - BUNDLE_BUDGET_GZIP_BYTES)}`,
    );
    process.exitCode = 1;
  }
} finally {
  rmSync(logDir, { recursive: true, force: true });
}

/**
 * Builds a Worker exactly as `wrangler deploy` would, without uploading
 * (`wrangler deploy --dry-run --outdir`), and lists the modules to serve.
 */
import { createRequire } from "node:module";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { runToCompletion } from "./processes.ts";

export interface Bundle {
  readonly dir: string;
  /** Modules in load order, the main module first, by file name within `dir`. */
  readonly modules: ReadonlyArray<{ readonly name: string; readonly kind: "esModule" | "wasm" }>;
  readonly rawBytes: number;
  readonly gzipBytes: number;
}

const BUILD_TIMEOUT_MS = 180_000;

function wranglerCli(): string {
  // Its package exports no bin path; the package.json is exported and sits beside bin/.
  return join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/**
 * Bundles the Worker configured by `configPath`, whose entry point is `main`,
 * into `outDir`; `extraArgs` go to `wrangler deploy`.
 */
export async function buildBundle(
  pin: readonly string[],
  configPath: string,
  main: string,
  outDir: string,
  logDir: string,
  extraArgs: readonly string[] = [],
): Promise<Bundle> {
  const { code, output } = await runToCompletion(
    pin,
    process.execPath,
    [wranglerCli(), "deploy", "--dry-run", "--config", configPath, "--outdir", outDir, ...extraArgs],
    {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: logDir, CI: "true" },
      timeoutMs: BUILD_TIMEOUT_MS,
    },
  );
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed for ${configPath}:\n${output.slice(-3000)}`);
  // Wrangler names the bundle after the entry point: src/index.ts -> index.js.
  return describeBundle(outDir, `${basename(main).replace(/\.[cm]?[jt]sx?$/, "")}.js`);
}

function describeBundle(dir: string, mainModule: string): Bundle {
  const files = readdirSync(dir).filter((name) => !name.endsWith(".map") && name !== "README.md");
  const modules: { name: string; kind: "esModule" | "wasm" }[] = [];
  for (const name of files) {
    if (/\.(m?js)$/.test(name)) modules.push({ name, kind: "esModule" });
    else if (name.endsWith(".wasm")) modules.push({ name, kind: "wasm" });
    else throw new Error(`the bundle holds ${name}, a module kind the benchmark does not serve`);
  }
  // The main module comes first.
  modules.sort((x, y) => Number(y.name === mainModule) - Number(x.name === mainModule));
  if (modules[0]?.name !== mainModule) throw new Error(`no ${mainModule} in ${dir}`);
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const { name } of modules) {
    const bytes = readFileSync(join(dir, name));
    rawBytes += bytes.length;
    gzipBytes += gzipSync(bytes).length;
  }
  return { dir, modules, rawBytes, gzipBytes };
}

/** A wrangler.json for the hop Worker (hop/worker.ts), on the project's compatibility date and flags. */
export const HOP_MAIN = join(import.meta.dirname, "hop", "worker.ts");

export function writeHopWranglerConfig(
  path: string,
  compatibilityDate: string,
  compatibilityFlags: readonly string[],
): void {
  const config = {
    name: "onceledger-bench-hop",
    main: HOP_MAIN,
    compatibility_date: compatibilityDate,
    compatibility_flags: compatibilityFlags,
    durable_objects: { bindings: [{ name: "HOP", class_name: "HopObject" }] },
    migrations: [{ tag: "v1", new_sqlite_classes: ["HopObject"] }],
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * The parts of a wrangler config that a plain `workerd serve` config needs,
 * read by Wrangler itself (so every TOML/JSON form it accepts works). Wrangler
 * is imported in a child process of its own: loading it here would also load
 * its global side effects into the benchmark.
 *
 *   node scripts/bench/wrangler-config.ts <wrangler.toml>   (prints the JSON)
 */
import { spawnSync } from "node:child_process";

export interface WorkerConfig {
  readonly main: string;
  readonly compatibilityDate: string;
  readonly compatibilityFlags: readonly string[];
  readonly vars: Readonly<Record<string, unknown>>;
  readonly durableObjects: ReadonlyArray<{ readonly name: string; readonly className: string }>;
  /** Classes created by new_sqlite_classes migrations: their objects get SQLite storage. */
  readonly sqliteClasses: readonly string[];
  /** Bindings the benchmark does not serve (queues, KV, ...): the Worker runs as if they were removed. */
  readonly unbound: ReadonlyArray<{ readonly name: string; readonly kind: string }>;
  /** R2 buckets: plain workerd does not serve them; the archive scenario's Miniflare server does. */
  readonly r2Buckets: ReadonlyArray<{ readonly binding: string; readonly bucketName: string }>;
}

export function readWorkerConfig(configPath: string): WorkerConfig {
  const result = spawnSync(process.execPath, [import.meta.filename, configPath], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const json = result.stdout.split("\n").find((line) => line.startsWith("{"));
  if (result.status !== 0 || json === undefined) {
    throw new Error(`could not read ${configPath}: ${result.stderr || result.stdout || String(result.error)}`);
  }
  return JSON.parse(json) as WorkerConfig;
}

/** The fields read here, as Wrangler's readConfig returns them (its own types do not resolve outside Wrangler). */
interface WranglerConfig {
  readonly main?: string;
  readonly compatibility_date?: string;
  readonly compatibility_flags: readonly string[];
  readonly vars: Readonly<Record<string, unknown>>;
  readonly durable_objects: {
    readonly bindings: ReadonlyArray<{ readonly name: string; readonly class_name: string }>;
  };
  readonly migrations: ReadonlyArray<{
    readonly new_sqlite_classes?: readonly string[];
    readonly deleted_classes?: readonly string[];
    readonly renamed_classes?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
  }>;
  readonly queues?: { readonly producers?: ReadonlyArray<{ readonly binding: string }> };
  readonly r2_buckets?: ReadonlyArray<{ readonly binding: string; readonly bucket_name?: string }>;
  readonly [other: string]: unknown;
}

/** Binding lists of a wrangler config that plain workerd here does not serve. */
const OTHER_BINDING_LISTS = [
  "kv_namespaces",
  "r2_buckets",
  "d1_databases",
  "services",
  "analytics_engine_datasets",
  "vectorize",
  "hyperdrive",
  "workflows",
  "send_email",
  "mtls_certificates",
  "dispatch_namespaces",
] as const;

type ReadConfig = (args: { config: string }, options: { hideWarnings: boolean }) => WranglerConfig;

async function printConfig(configPath: string): Promise<void> {
  const wrangler = (await import("wrangler")) as unknown as { unstable_readConfig: ReadConfig };
  const config = wrangler.unstable_readConfig({ config: configPath }, { hideWarnings: true });
  const sqlite = new Set<string>();
  for (const migration of config.migrations) {
    for (const name of migration.new_sqlite_classes ?? []) sqlite.add(name);
    for (const name of migration.deleted_classes ?? []) sqlite.delete(name);
    for (const { from, to } of migration.renamed_classes ?? []) {
      if (sqlite.delete(from)) sqlite.add(to);
    }
  }
  const unbound = (config.queues?.producers ?? []).map((p) => ({ name: p.binding, kind: "queue producer" }));
  for (const kind of OTHER_BINDING_LISTS) {
    const list = config[kind];
    if (!Array.isArray(list)) continue;
    for (const item of list as unknown[]) {
      const name = typeof item === "object" && item !== null && "binding" in item ? String(item.binding) : "?";
      unbound.push({ name, kind });
    }
  }
  const out: WorkerConfig = {
    main: config.main ?? "",
    compatibilityDate: config.compatibility_date ?? "",
    compatibilityFlags: config.compatibility_flags,
    vars: config.vars,
    durableObjects: config.durable_objects.bindings.map((b) => ({ name: b.name, className: b.class_name })),
    sqliteClasses: [...sqlite],
    unbound,
    r2Buckets: (config.r2_buckets ?? []).map((b) => ({ binding: b.binding, bucketName: b.bucket_name ?? b.binding })),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1] === import.meta.filename) {
  const [configPath] = process.argv.slice(2);
  if (configPath === undefined) {
    process.stderr.write("usage: node scripts/bench/wrangler-config.ts <wrangler.toml>\n");
    process.exit(2);
  }
  await printConfig(configPath);
}

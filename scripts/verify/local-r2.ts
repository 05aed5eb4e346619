/**
 * The archive bucket as `wrangler dev` keeps it on disk, for `npm run
 * verify -- --r2 local` (docs/verify.md). Read through Wrangler's own
 * getPlatformProxy (Miniflare under it, the code that wrote it), never by
 * parsing Miniflare's private files, and in one process for every object:
 * `wrangler r2 object get --local` would start one per object, seconds each.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { getPlatformProxy, unstable_readConfig } from "wrangler";
import { err, ok, type Result } from "../../src/lib/result.ts";
import type { ObjectReader } from "./chain.ts";

export interface LocalArchive {
  readonly read: ObjectReader;
  /** Where it reads: the bucket and the state directory. */
  readonly where: string;
  close(): Promise<void>;
}

interface WranglerConfig {
  readonly compatibility_date?: string;
  readonly r2_buckets: readonly { readonly binding: string; readonly bucket_name?: string }[];
}

/** Typed here: wrangler does not ship the types of the config it reads (@cloudflare/workers-utils). */
const readConfig = unstable_readConfig as (args: { config: string; env: string | undefined }) => WranglerConfig;

interface LocalBucket {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
}

/**
 * The directory Miniflare keeps its v3 state in, for `--r2 local` (the
 * `.wrangler/state` beside the config, as `wrangler dev` uses by default) or
 * for `--r2 <dir>`: what was given to `wrangler dev --persist-to`, or its v3
 * directory itself.
 */
export function localStateDir(r2: string, configPath: string, exists = existsSync): Result<string, string> {
  const root = r2 === "local" ? join(dirname(resolve(configPath)), ".wrangler", "state") : resolve(r2);
  for (const dir of [join(root, "v3"), root]) if (exists(join(dir, "r2"))) return ok(dir);
  return err(
    `no local R2 state under ${root}: give --r2 local where wrangler dev ran, or --r2 <the directory given to wrangler dev --persist-to>`,
  );
}

/** Opens `binding`'s bucket (as wrangler.toml binds it, in `environment` if given) from local state. */
export async function openLocalArchive(options: {
  readonly r2: string;
  readonly binding: string;
  readonly configPath: string;
  readonly environment?: string | undefined;
}): Promise<Result<LocalArchive, string>> {
  const state = localStateDir(options.r2, options.configPath);
  if (!state.ok) return state;
  const config = readConfig({ config: options.configPath, env: options.environment });
  const bucket = config.r2_buckets.find((b) => b.binding === options.binding);
  if (bucket?.bucket_name === undefined) {
    const bound = config.r2_buckets.map((b) => b.binding).join(", ") || "none";
    return err(`${options.configPath} binds no R2 bucket as ${options.binding} (it binds: ${bound})`);
  }
  // A config of the bucket alone: the project's would start its objects and queues too, and warn of each.
  const dir = mkdtempSync(join(tmpdir(), "onceledger-verify-"));
  const configPath = join(dir, "wrangler.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      name: "onceledger-verify",
      compatibility_date: config.compatibility_date,
      r2_buckets: [{ binding: "ARCHIVE", bucket_name: bucket.bucket_name }],
    }),
  );
  try {
    const proxy = await getPlatformProxy<{ ARCHIVE: LocalBucket }>({
      configPath,
      persist: { path: state.value },
      remoteBindings: false,
    });
    return ok({
      read: async (name) => {
        const object = await proxy.env.ARCHIVE.get(name);
        return object === null ? null : new Uint8Array(await object.arrayBuffer());
      },
      where: `bucket ${bucket.bucket_name} (${options.binding}) in ${state.value}`,
      close: async () => {
        await proxy.dispose();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The process that serves the bundle with an R2 bucket: Miniflare (the
 * library under `wrangler dev` and the tests' pool), so the bucket is
 * Wrangler's own local R2 on disk, no mock. Started by miniflare.ts, pinned
 * to the server CPU (workerd, its child, inherits the pinning). Requests
 * reach the Worker through a direct socket, not Miniflare's entry worker, so
 * a request's path is the one plain `workerd serve` gives. Miniflare runs
 * workerd with structured logs (a JSON record per console line, with its
 * time), which this host writes to the log file as the Worker's own lines,
 * each JSON line given its record's time as `ts` (server-log.ts reads it),
 * so an alarm's line carries when it ran. The URL and workerd's pid go back
 * over IPC. SIGTERM (or the parent going away) disposes of it.
 *
 *   node scripts/bench/miniflare-host.ts <spec.json>   (with an IPC channel)
 */
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

export interface HostSpec {
  readonly bundleDir: string;
  /** Modules in load order, the main module first, by file name within bundleDir. */
  readonly modules: ReadonlyArray<{ readonly name: string; readonly kind: "esModule" | "wasm" }>;
  readonly compatibilityDate: string;
  readonly compatibilityFlags: readonly string[];
  readonly durableObjects: ReadonlyArray<{ readonly name: string; readonly className: string }>;
  readonly sqliteClasses: readonly string[];
  readonly vars: Readonly<Record<string, unknown>>;
  /** Binding name to bucket name. */
  readonly r2Buckets: Readonly<Record<string, string>>;
  /** Objects under <persistDir>/do, buckets under <persistDir>/r2. */
  readonly persistDir: string;
  readonly logPath: string;
}

export type FromHost = { readonly ready: { url: string; workerdPid: number | null } } | { readonly error: string };

interface MiniflareLike {
  readonly ready: Promise<URL>;
  unsafeGetDirectURL(workerName?: string): Promise<URL>;
  dispose(): Promise<void>;
}

type MiniflareModule = {
  Miniflare: new (options: unknown) => MiniflareLike;
  convertV4MiniflareOptions?: (options: unknown) => unknown;
};

/** One structured record as a log line: a JSON object line gets the record's time as `ts` (epoch ms). */
export function logLine(record: { timestamp: number; message: string }): string {
  const message = record.message.replace(/\n+$/, "");
  const ms = record.timestamp > 1e15 ? record.timestamp / 1000 : record.timestamp;
  const plausible = Math.abs(ms - Date.now()) < 86_400_000;
  if (plausible && message.startsWith("{") && message.endsWith("}") && !message.includes("\n")) {
    return `{"ts":${Math.round(ms)},${message.slice(1)}\n`;
  }
  return `${message}\n`;
}

/** The workerd process among this process's children. */
function workerdChild(): number | null {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith("workerd")) return Number(name);
    } catch {
      // gone
    }
  }
  return null;
}

async function host(spec: HostSpec): Promise<MiniflareLike> {
  const miniflare = createRequire(import.meta.url)("miniflare") as MiniflareModule;
  const log = createWriteStream(spec.logPath, { flags: "a" });
  const durableObjects = Object.fromEntries(
    spec.durableObjects.map((d) => [
      d.name,
      { className: d.className, useSQLite: spec.sqliteClasses.includes(d.className) },
    ]),
  );
  const options = {
    name: "onceledger",
    host: "127.0.0.1",
    port: 0,
    modules: spec.modules.map((m) => ({
      type: m.kind === "wasm" ? "CompiledWasm" : "ESModule",
      path: join(spec.bundleDir, m.name),
    })),
    modulesRoot: spec.bundleDir,
    compatibilityDate: spec.compatibilityDate,
    compatibilityFlags: [...spec.compatibilityFlags],
    durableObjects,
    r2Buckets: { ...spec.r2Buckets },
    bindings: { ...spec.vars },
    resourcePersistencePath: spec.persistDir,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    handleStructuredLogs(record: { timestamp: number; message: string }) {
      log.write(logLine(record));
    },
  };
  // Miniflare 5 takes { workers: [...] }; it converts the flat form every earlier release took.
  const mf = new miniflare.Miniflare(miniflare.convertV4MiniflareOptions?.(options) ?? options);
  await mf.ready;
  return mf;
}

if (process.argv[1] === import.meta.filename) {
  const [specPath] = process.argv.slice(2);
  if (specPath === undefined || process.send === undefined) {
    process.stderr.write("usage: node scripts/bench/miniflare-host.ts <spec.json> (started with an IPC channel)\n");
    process.exit(2);
  }
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as HostSpec;
  let mf: MiniflareLike | null = null;
  let ending = false;
  const end = () => {
    if (ending) return;
    ending = true;
    const done = () => process.exit(0);
    if (mf === null) done();
    else mf.dispose().then(done, done);
    setTimeout(done, 5000).unref();
  };
  process.on("SIGTERM", end);
  process.on("SIGINT", end);
  process.on("disconnect", end);
  try {
    mf = await host(spec);
    const url = (await mf.unsafeGetDirectURL()).href.replace(/\/$/, "");
    const reply: FromHost = { ready: { url, workerdPid: workerdChild() } };
    process.send(reply);
  } catch (error) {
    const reply: FromHost = { error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    process.send(reply, () => process.exit(1));
  }
}

/**
 * What every scenario works with: the options, the machine's pinning, the
 * bench API key, the bundles, and the servers (one at a time for measuring;
 * each started from a fresh storage folder unless told otherwise).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LedgerApi, type BenchKey } from "./api.ts";
import type { Bundle } from "./bundle.ts";
import type { Machine } from "./machine.ts";
import { startMiniflare } from "./miniflare.ts";
import type { BenchOptions } from "./options.ts";
import { workerdConfig } from "./workerd-config.ts";
import { startWorkerd, type WorkerdServer } from "./workerd.ts";
import type { WorkerConfig } from "./wrangler-config.ts";
import type { Target } from "./workload.ts";

export interface Served {
  readonly server: WorkerdServer;
  readonly api: LedgerApi;
  readonly target: Target;
  /** Where the account objects' SQLite files are (object-storage.ts finds one by its account's name). */
  readonly accountObjects: AccountObjectsDir;
}

/** The directory of the account objects' SQLite files, or where it will be once one exists. */
export interface AccountObjectsDir {
  readonly root: string;
  /** The sub-directory's name ends with this (its namespace's unique key or the class name). */
  readonly suffix: string;
}

/** A section of text printed after the table (and kept in the JSON), e.g. the archive scenario's figures. */
export interface Section {
  readonly title: string;
  readonly lines: readonly string[];
  readonly data: unknown;
}

export class BenchContext {
  readonly options: BenchOptions;
  readonly machine: Machine;
  readonly key: BenchKey;
  readonly workDir: string;
  readonly projectConfig: WorkerConfig;
  readonly projectBundle: Bundle;
  readonly hopBundle: Bundle | null;
  /** Short and unique per run, so accounts and keys never meet an earlier run's. */
  readonly runId = Date.now().toString(36);
  /** Whether POST /v1/accounts/{a}/batches exists, once probed. */
  batchAvailable: boolean | null = null;
  batchNote = "";
  /** Printed after the table, in the order added. */
  readonly sections: Section[] = [];
  private servers = 0;

  constructor(init: {
    options: BenchOptions;
    machine: Machine;
    key: BenchKey;
    workDir: string;
    projectConfig: WorkerConfig;
    projectBundle: Bundle;
    hopBundle: Bundle | null;
  }) {
    this.options = init.options;
    this.machine = init.machine;
    this.key = init.key;
    this.workDir = init.workDir;
    this.projectConfig = init.projectConfig;
    this.projectBundle = init.projectBundle;
    this.hopBundle = init.hopBundle;
  }

  /** An account name for `scenario`: 1 to 64 of A-Z a-z 0-9 _ -. */
  account(scenario: string, part: string | number): string {
    return `b${this.runId}_${scenario}_${part}`;
  }

  keyPrefix(scenario: string, phase: string): string {
    return `${this.runId}-${scenario}-${phase}`;
  }

  /** The project's bundle with its [vars], API_KEYS = the bench key, and `overrides`; `storage` reuses a folder. */
  async startProject(label: string, overrides: Record<string, string> = {}, storage?: string): Promise<Served> {
    const config = this.projectConfig;
    return this.start(label, this.projectBundle, "project", {
      compatibilityDate: config.compatibilityDate,
      compatibilityFlags: config.compatibilityFlags,
      durableObjects: config.durableObjects,
      sqliteClasses: config.sqliteClasses,
      vars: { ...config.vars, API_KEYS: this.key.apiKeysJson, ...overrides },
      storage,
    });
  }

  /**
   * The project's bundle served by Miniflare (miniflare.ts) with its R2
   * buckets on local disk, as `wrangler dev` serves them; otherwise as
   * startProject (its [vars], API_KEYS = the bench key, `overrides`).
   */
  async startProjectWithR2(label: string, overrides: Record<string, string> = {}): Promise<Served> {
    const config = this.projectConfig;
    const n = ++this.servers;
    const persistDir = join(this.workDir, "storage", `${n}-${label}`);
    mkdirSync(join(this.workDir, "logs"), { recursive: true });
    const server = await startMiniflare({
      specPath: join(this.workDir, `${n}-${label}.miniflare.json`),
      pin: this.machine.pinning.server,
      bundleDir: this.projectBundle.dir,
      modules: this.projectBundle.modules,
      compatibilityDate: config.compatibilityDate,
      compatibilityFlags: config.compatibilityFlags,
      durableObjects: config.durableObjects,
      sqliteClasses: config.sqliteClasses,
      vars: { ...config.vars, API_KEYS: this.key.apiKeysJson, ...overrides },
      r2Buckets: Object.fromEntries(config.r2Buckets.map((b) => [b.binding, b.bucketName])),
      persistDir,
      logPath: join(this.workDir, "logs", `${n}-${label}.log`),
    });
    const api = new LedgerApi(server.baseUrl, this.key.token);
    return {
      server,
      api,
      target: { baseUrl: server.baseUrl, token: this.key.token, serverPid: server.pid },
      accountObjects: { root: join(persistDir, "do"), suffix: "AccountLedger" },
    };
  }

  async startHop(): Promise<Served> {
    if (this.hopBundle === null) throw new Error("the hop was not built");
    const config = this.projectConfig;
    return this.start("hop", this.hopBundle, "hop", {
      compatibilityDate: config.compatibilityDate,
      compatibilityFlags: config.compatibilityFlags,
      durableObjects: [{ name: "HOP", className: "HopObject" }],
      sqliteClasses: ["HopObject"],
      vars: {},
    });
  }

  /** A fresh storage folder for a server. */
  storageDir(label: string): string {
    this.servers += 1;
    return join(this.workDir, "storage", `${this.servers}-${label}`);
  }

  private async start(
    label: string,
    bundle: Bundle,
    bundleDir: string,
    spec: {
      compatibilityDate: string;
      compatibilityFlags: readonly string[];
      durableObjects: ReadonlyArray<{ name: string; className: string }>;
      sqliteClasses: readonly string[];
      vars: Record<string, unknown>;
      storage?: string | undefined;
    },
  ): Promise<Served> {
    const storageDir = spec.storage ?? this.storageDir(label);
    const n = ++this.servers;
    mkdirSync(join(this.workDir, "logs"), { recursive: true });
    const server = await startWorkerd({
      configPath: join(this.workDir, `${n}-${label}.capnp`),
      configText: workerdConfig({
        bundle,
        bundleDirFromConfig: bundleDir,
        compatibilityDate: spec.compatibilityDate,
        compatibilityFlags: spec.compatibilityFlags,
        durableObjects: spec.durableObjects,
        sqliteClasses: spec.sqliteClasses,
        vars: spec.vars,
        storageDir,
        uniqueKeyPrefix: "bench",
      }),
      storageDir,
      logPath: join(this.workDir, "logs", `${n}-${label}.log`),
      pin: this.machine.pinning.server,
    });
    const api = new LedgerApi(server.baseUrl, this.key.token);
    return {
      server,
      api,
      target: { baseUrl: server.baseUrl, token: this.key.token, serverPid: server.pid },
      accountObjects: { root: storageDir, suffix: "bench-AccountLedger" },
    };
  }
}

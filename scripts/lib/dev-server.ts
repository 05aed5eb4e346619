/**
 * Starts `wrangler dev` on a free loopback port with throwaway local storage,
 * for the scripts that need a running ledger (chaos, check:client). It can
 * also be killed outright (SIGKILL to its whole process group, as a crash
 * would) and started again on the same port and the same persisted state.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export { DEV_API_KEY } from "../../src/config/dev-key.ts";
const STARTUP_TIMEOUT_MS = 60_000;

/** Every server still running, stopped if this process is interrupted: they run in their own process groups. */
const running = new Set<() => void>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const stop of running) stop();
    process.exit(130);
  });
}

export interface DevServer {
  readonly baseUrl: string;
  /** Its `--persist-to` directory: its objects' and local R2's state (removed by stop). */
  readonly stateDir: string;
  /** Kills the whole process group with SIGKILL: nothing is flushed or closed gracefully. */
  crash(): void;
  /** Starts it again on the same port and state; resolves once it serves. */
  restart(): Promise<void>;
  stop(): void;
}

export async function startDevServer(
  label: string,
  options: { vars?: Readonly<Record<string, string>> } = {},
): Promise<DevServer> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const stateDir = mkdtempSync(join(tmpdir(), `onceledger-${label}-`));
  const vars = Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
  let child: ChildProcess | undefined;

  const launch = async () => {
    // Its own process group, so a crash takes workerd down with wrangler.
    child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", stateDir, ...vars], {
      stdio: ["ignore", "ignore", "inherit"],
      detached: true,
    });
    const started = child;
    await waitUntilServing(baseUrl, () => started.exitCode !== null || started.signalCode !== null);
  };
  const killGroup = (signal: NodeJS.Signals) => {
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const stop = () => {
    running.delete(stop);
    killGroup("SIGTERM");
    rmSync(stateDir, { recursive: true, force: true });
  };
  running.add(stop);
  try {
    await launch();
  } catch (error) {
    stop();
    throw error;
  }
  return {
    baseUrl,
    stateDir,
    crash: () => {
      killGroup("SIGKILL");
    },
    restart: launch,
    stop,
  };
}

async function waitUntilServing(baseUrl: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline && !exited()) {
    try {
      const response = await fetch(`${baseUrl}/openapi.json`);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not start serving within ${STARTUP_TIMEOUT_MS / 1000} s`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

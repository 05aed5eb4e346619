/**
 * Starts `wrangler dev` on a free loopback port with throwaway local storage,
 * for the scripts that need a running ledger (bench, chaos).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export { DEV_API_KEY } from "../../src/domain/dev-key.ts";
const STARTUP_TIMEOUT_MS = 60_000;

export interface DevServer {
  readonly baseUrl: string;
  stop(): void;
}

export async function startDevServer(label: string): Promise<DevServer> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const stateDir = mkdtempSync(join(tmpdir(), `onceledger-${label}-`));
  const server = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", stateDir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = () => {
    server.kill("SIGTERM");
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(baseUrl, () => server.exitCode !== null);
  } catch (error) {
    stop();
    throw error;
  }
  return { baseUrl, stop };
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

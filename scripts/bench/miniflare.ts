/**
 * A bundled Worker served with an R2 bucket (miniflare-host.ts): plain
 * workerd has no local R2 of its own, Miniflare has Wrangler's. Looks to the
 * scenarios like a plain workerd server: its pid is the host's, so its CPU
 * time is the host's and workerd's together (the host idles while requests
 * go to workerd's direct socket), and its log is workerd's output.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FromHost, HostSpec } from "./miniflare-host.ts";
import { treeCpuSeconds } from "./proc-cpu.ts";
import { settlesWithin, startProcess, stopProcess } from "./processes.ts";
import { ServerLog } from "./server-log.ts";
import type { WorkerdServer } from "./workerd.ts";

const READY_TIMEOUT_MS = 90_000;

export async function startMiniflare(
  spec: HostSpec & { readonly specPath: string; readonly pin: readonly string[] },
): Promise<WorkerdServer & { readonly workerdPid: number | null }> {
  mkdirSync(spec.persistDir, { recursive: true });
  const { specPath, pin, ...hostSpec } = spec;
  writeFileSync(specPath, JSON.stringify(hostSpec));
  writeFileSync(spec.logPath, "", { flag: "a" });
  const spawnedAt = performance.now();
  const child = startProcess(pin, process.execPath, [join(import.meta.dirname, "miniflare-host.ts"), specPath], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const answer = new Promise<{ url: string; workerdPid: number | null }>((resolve, reject) => {
    child.once("message", (message: FromHost) => {
      if ("ready" in message) resolve(message.ready);
      else reject(new Error(`miniflare failed to start: ${message.error}`));
    });
    child.once("exit", (code, signal) => reject(new Error(`miniflare host exited (${signal ?? String(code)})`)));
    child.once("error", reject);
  });
  if (!(await settlesWithin(answer, READY_TIMEOUT_MS))) {
    await stopProcess(child);
    throw new Error(`miniflare did not start within ${READY_TIMEOUT_MS / 1000} s`);
  }
  let ready: { url: string; workerdPid: number | null };
  try {
    ready = await answer;
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("the miniflare host has no pid");
  const listeningAt = performance.now();
  return {
    pid,
    port: Number(new URL(ready.url).port),
    baseUrl: ready.url,
    log: new ServerLog(spec.logPath),
    spawnedAt,
    listeningAt,
    workerdPid: ready.workerdPid,
    cpuSeconds: () => treeCpuSeconds(pid),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopProcess(child, 8000),
  };
}

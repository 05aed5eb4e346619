/**
 * A bundled Worker served by plain `workerd serve` (no Wrangler dev proxy, no
 * inspector), pinned to the server CPU, its stdout and stderr in a log file.
 * The socket listens on port 0; workerd reports the port it got on its
 * control fd (--control-fd), which also tells the moment it is ready.
 */
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { treeCpuSeconds } from "./proc-cpu.ts";
import { settlesWithin, startProcess, stopProcess } from "./processes.ts";
import { ServerLog } from "./server-log.ts";

const LISTEN_TIMEOUT_MS = 60_000;

export interface WorkerdServer {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly log: ServerLog;
  /** performance.now() when it was spawned, and when it reported its socket listening. */
  readonly spawnedAt: number;
  readonly listeningAt: number;
  cpuSeconds(): number;
  alive(): boolean;
  stop(): Promise<void>;
}

export function workerdBinary(): string {
  const exported: unknown = createRequire(import.meta.url)("workerd");
  const path = typeof exported === "object" && exported !== null && "default" in exported ? exported.default : null;
  if (typeof path !== "string") throw new Error("the workerd package did not name its binary");
  return path;
}

export function workerdVersion(): string {
  try {
    const exported = createRequire(import.meta.url)("workerd/package.json") as { version?: string };
    return exported.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function startWorkerd(options: {
  readonly configPath: string;
  readonly configText: string;
  readonly storageDir: string;
  readonly logPath: string;
  readonly pin: readonly string[];
}): Promise<WorkerdServer> {
  mkdirSync(options.storageDir, { recursive: true });
  writeFileSync(options.configPath, options.configText);
  const logFd = openSync(options.logPath, "a");
  const spawnedAt = performance.now();
  let child: ChildProcess;
  try {
    child = startProcess(options.pin, workerdBinary(), ["serve", options.configPath, "--control-fd", "3"], {
      cwd: dirname(options.configPath),
      stdio: ["ignore", logFd, logFd, "pipe"],
    });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  const port = await listeningPort(child, options.logPath);
  const listeningAt = performance.now();
  const pid = child.pid;
  if (pid === undefined) throw new Error("workerd has no pid");
  return {
    pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    log: new ServerLog(options.logPath),
    spawnedAt,
    listeningAt,
    cpuSeconds: () => treeCpuSeconds(pid),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopProcess(child),
  };
}

/** Waits (bounded) for `{"event":"listen","port":N}` on fd 3; fails with the log's tail if workerd exits first. */
async function listeningPort(child: ChildProcess, logPath: string): Promise<number> {
  const control = child.stdio[3];
  if (control === null || control === undefined || !("on" in control)) throw new Error("no control fd");
  let buffered = "";
  const port = new Promise<number>((resolve, reject) => {
    control.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n")) {
        const match = /"event":"listen"[^}]*"port":(\d+)/.exec(line);
        if (match?.[1] !== undefined) resolve(Number(match[1]));
      }
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`workerd exited (${signal ?? String(code)}) before listening:\n${tail(logPath)}`)),
    );
    child.once("error", reject);
  });
  if (!(await settlesWithin(port, LISTEN_TIMEOUT_MS))) {
    await stopProcess(child);
    throw new Error(`workerd did not listen within ${LISTEN_TIMEOUT_MS / 1000} s:\n${tail(logPath)}`);
  }
  try {
    return await port;
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(-3000);
  } catch {
    return "(no log)";
  }
}

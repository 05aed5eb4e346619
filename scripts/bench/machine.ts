/** What the figures were measured on, and where each process is pinned. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

export interface Pinning {
  /** Command prefix for the server, e.g. ["taskset", "-c", "1"]; empty when not pinned. */
  readonly server: readonly string[];
  /** Command prefix for the load generator. */
  readonly load: readonly string[];
  readonly serverCpu: number | null;
  readonly loadCpu: number | null;
  /** How it was decided, for the report. */
  readonly note: string;
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly allowedCpus: readonly number[];
  readonly kernel: string;
  readonly pinning: Pinning;
}

/** The CPUs this process may run on (Cpus_allowed_list), e.g. "0-1,4" -> [0, 1, 4]. */
function allowedCpus(): number[] {
  try {
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "";
    const cpus: number[] = [];
    for (const part of line.trim().split(",")) {
      const [from, to] = part.split("-").map(Number);
      if (from === undefined || !Number.isInteger(from)) continue;
      for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu);
    }
    return cpus;
  } catch {
    return [];
  }
}

function tasksetWorks(cpu: number): boolean {
  try {
    execFileSync("taskset", ["-c", String(cpu), "true"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

export function describeMachine(pinWanted: boolean): Machine {
  const cpuinfo = safeRead("/proc/cpuinfo");
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const cpus = allowedCpus();
  const cores = cpus.length > 0 ? cpus.length : availableParallelism();
  const kernel = safeRead("/proc/sys/kernel/osrelease").trim();
  let pinning: Pinning;
  const [loadCpu, serverCpu] = cpus;
  if (!pinWanted) {
    pinning = { server: [], load: [], serverCpu: null, loadCpu: null, note: "not pinned (--no-pin)" };
  } else if (loadCpu === undefined || serverCpu === undefined) {
    pinning = { server: [], load: [], serverCpu: null, loadCpu: null, note: "not pinned: fewer than 2 CPUs" };
  } else if (!tasksetWorks(serverCpu)) {
    pinning = { server: [], load: [], serverCpu: null, loadCpu: null, note: "not pinned: taskset missing or refused" };
  } else {
    pinning = {
      server: ["taskset", "-c", String(serverCpu)],
      load: ["taskset", "-c", String(loadCpu)],
      serverCpu,
      loadCpu,
      note: `server on CPU ${serverCpu}; load generator and this script on CPU ${loadCpu}`,
    };
  }
  return { cpuModel, cores, allowedCpus: cpus, kernel, pinning };
}

/** Moves this process (all its threads) to the load generator's CPU, so its own work stays off the server's. */
export function pinSelf(pinning: Pinning): void {
  if (pinning.loadCpu === null) return;
  try {
    execFileSync("taskset", ["-a", "-p", "-c", String(pinning.loadCpu), String(process.pid)], {
      stdio: "ignore",
      timeout: 5000,
    });
  } catch {
    // Not fatal: only the orchestration would share the server's CPU.
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

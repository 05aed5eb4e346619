/**
 * CPU time of a process tree from the kernel's own accounting: utime + stime
 * in /proc/<pid>/stat, which covers every thread of the process, summed over
 * the process and its descendants.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 5000 }).trim());
      ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      ticksPerSecond = 100; // Linux's USER_HZ nearly everywhere
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  readonly ppid: number;
  readonly ticks: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // gone, or not Linux
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, ticks } : null;
}

/** CPU seconds used so far by `rootPid` and every process below it; NaN if /proc cannot tell. */
export function treeCpuSeconds(rootPid: number): number {
  const root = readStat(rootPid);
  if (root === null) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = pid === rootPid ? root : readStat(pid);
    if (stat === null) continue;
    const siblings = children.get(stat.ppid);
    if (siblings === undefined) children.set(stat.ppid, [pid]);
    else siblings.push(pid);
  }
  let ticks = 0;
  const pending = [rootPid];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    ticks += pid === rootPid ? root.ticks : (readStat(pid)?.ticks ?? 0);
    pending.push(...(children.get(pid) ?? []));
  }
  return ticks / clockTicksPerSecond();
}

/** CPU seconds one process (all its threads) has used; NaN if unknown. */
export function processCpuSeconds(pid: number): number {
  const stat = readStat(pid);
  return stat === null ? Number.NaN : stat.ticks / clockTicksPerSecond();
}

/** Busy CPU seconds of the whole machine so far (every CPU, anything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return busy / clockTicksPerSecond();
  } catch {
    return Number.NaN;
  }
}

export interface CpuSpent {
  /** The server's process tree. */
  readonly server: number;
  /** The load generator's own process. */
  readonly load: number;
  /**
   * Everything else the machine did meanwhile (other processes, the kernel's
   * network work), less the benchmark's own orchestrating process: a shared
   * machine's noise shows here.
   */
  readonly other: number;
}

/** CPU spent between its creation and end(), called from the load generator's process. */
export class CpuWindow {
  private readonly serverPid: number | null;
  private readonly server: number;
  private readonly load = process.cpuUsage();
  private readonly orchestrator = processCpuSeconds(process.ppid);
  private readonly busy = machineBusySeconds();

  constructor(serverPid: number | null) {
    this.serverPid = serverPid;
    this.server = serverPid === null ? Number.NaN : treeCpuSeconds(serverPid);
  }

  end(): CpuSpent {
    const server = this.serverPid === null ? Number.NaN : treeCpuSeconds(this.serverPid) - this.server;
    const loadUsage = process.cpuUsage(this.load);
    const load = (loadUsage.user + loadUsage.system) / 1e6;
    const orchestrator = processCpuSeconds(process.ppid) - this.orchestrator;
    const busy = machineBusySeconds() - this.busy;
    const other =
      busy - (Number.isFinite(server) ? server : 0) - load - (Number.isFinite(orchestrator) ? orchestrator : 0);
    return { server, load, other: Math.max(0, other) };
  }
}

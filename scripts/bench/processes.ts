/**
 * Every process the benchmark starts goes through here, so that all of them
 * (and their own children) are stopped at the end, on an error and on
 * Ctrl-C. Each runs in its own process group, which is signalled by its id.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

const running = new Set<ChildProcess>();
/** Set once an interrupt is being handled: nothing new may start after that. */
let stopping = false;

/** Spawns `command`, prefixed with `pin` (e.g. ["taskset", "-c", "1"]) when given, in a group of its own. */
export function startProcess(
  pin: readonly string[],
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  if (stopping) throw new Error("interrupted");
  const [program, ...rest] = [...pin, command, ...args] as [string, ...string[]];
  const child = spawn(program, rest, { ...options, detached: true });
  running.add(child);
  child.once("exit", () => running.delete(child));
  child.once("error", () => running.delete(child));
  return child;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to the process's group, SIGKILL if it has not exited after `graceMs`; waits at most that long again. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || hasExited(child)) {
    running.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  signalGroup(pid, "SIGTERM");
  if (!(await settlesWithin(exited, graceMs))) {
    signalGroup(pid, "SIGKILL");
    await settlesWithin(exited, graceMs);
  } else {
    signalGroup(pid, "SIGKILL"); // whatever the leader left behind in its group
  }
  running.delete(child);
}

export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((child) => stopProcess(child, 3000)));
}

let installed = false;

/**
 * On Ctrl-C, SIGTERM or SIGHUP: start nothing new, stop everything started,
 * exit 130, and at that exit call `afterInterrupt` (synchronously, after
 * anything still in flight). On any exit: SIGKILL whatever is left.
 */
export function installCleanup(afterInterrupt: () => void): void {
  if (installed) return;
  installed = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      stopping = true;
      process.stderr.write(`\n${signal}: stopping every process this run started\n`);
      void stopAllProcesses().finally(() => process.exit(130));
    });
  }
  process.once("exit", () => {
    for (const child of running) if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
    if (stopping) afterInterrupt();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** True if `promise` settles within `ms`, false otherwise (it is left running). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion with a time bound; resolves with its exit code and combined output. */
export async function runToCompletion(
  pin: readonly string[],
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; output: string }> {
  const child = startProcess(pin, command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  if (!(await settlesWithin(done, options.timeoutMs))) {
    await stopProcess(child);
    return { code: null, output: `${output}\n(stopped after ${options.timeoutMs / 1000} s)` };
  }
  return { code: await done, output };
}

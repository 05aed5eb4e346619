/**
 * Runs load jobs in a separate process pinned to the load CPU
 * (load-process.ts), so the generator never shares the server's CPU, and
 * bounds each job's time.
 */
import { join } from "node:path";
import type { Pinning } from "./machine.ts";
import { settlesWithin, startProcess, stopProcess } from "./processes.ts";
import type { FromLoadProcess, ToLoadProcess } from "./load-process.ts";
import type { LoadJob, LoadResult } from "./workload.ts";

/** Beyond its own duration, how long a job may take (connection set-up, draining, a slow server). */
const GRACE_MS = 90_000;

export interface RunningLoad {
  readonly result: Promise<LoadResult>;
  /** Asks an open-loop job to stop scheduling; it still waits for the answers in flight. */
  stop(): void;
}

export function startLoad(pinning: Pinning, job: LoadJob): RunningLoad {
  const child = startProcess(pinning.load, process.execPath, [join(import.meta.dirname, "load-process.ts")], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const answer = new Promise<LoadResult>((resolve, reject) => {
    child.once("message", (message: FromLoadProcess) => {
      if ("result" in message) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`load generator exited (${signal ?? String(code)}) without a result`)),
    );
    child.once("error", reject);
  });
  const send = (message: ToLoadProcess) => {
    if (child.connected) child.send(message);
  };
  send({ job });
  const result = (async () => {
    try {
      if (!(await settlesWithin(answer, job.seconds * 1000 + GRACE_MS))) {
        throw new Error(`load generator gave no result within ${job.seconds} s + ${GRACE_MS / 1000} s`);
      }
      return await answer;
    } finally {
      await stopProcess(child, 2000);
    }
  })();
  return { result, stop: () => send({ stop: true }) };
}

export function runLoad(pinning: Pinning, job: LoadJob): Promise<LoadResult> {
  return startLoad(pinning, job).result;
}

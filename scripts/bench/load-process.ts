/**
 * The load generator's own process, pinned to the load CPU by its parent
 * (load.ts): it receives one job over IPC, runs it, sends the result back and
 * exits. It also exits if its parent goes away.
 */
import { runBatchLoad } from "./batch-load.ts";
import { runClosedLoop } from "./closed-loop.ts";
import { runFlowLoad } from "./flow-load.ts";
import { runOpenLoop } from "./open-loop.ts";
import type { LoadJob, LoadResult } from "./workload.ts";

export type ToLoadProcess = { readonly job: LoadJob } | { readonly stop: true };
export type FromLoadProcess = { readonly result: LoadResult } | { readonly error: string };

let stopRequested = false;

async function run(job: LoadJob): Promise<LoadResult> {
  switch (job.kind) {
    case "closed":
      return runClosedLoop(job);
    case "open":
      return runOpenLoop(job, () => stopRequested);
    case "batch":
      return runBatchLoad(job);
    case "flow":
      return runFlowLoad(job, () => stopRequested);
  }
}

function reply(message: FromLoadProcess): void {
  process.send?.(message, () => process.exit(0));
}

if (process.send !== undefined) {
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message: ToLoadProcess) => {
    if ("stop" in message) {
      stopRequested = true;
      return;
    }
    run(message.job).then(
      (result) => reply({ result }),
      (error: unknown) => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

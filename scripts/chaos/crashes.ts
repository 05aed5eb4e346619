/**
 * Crash mode: the whole local server process group is killed with SIGKILL
 * (no graceful stop) at evenly spaced points of the run, each time while at
 * least `minInFlight` requests are on their way, and started again on the
 * same persisted state. The client's retries carry every operation across.
 */
import type { Fetch } from "../../src/client/onceledger-client.ts";
import type { DevServer } from "../lib/dev-server.ts";

export interface CrashSchedule {
  /** The fetch to hand the client: it counts requests in flight. */
  readonly fetch: Fetch;
  /** Call after each finished operation; crashes the server when the run reaches the next point. */
  readonly tick: (done: number) => void;
  /** Resolves once every crash and restart has finished. */
  settle(): Promise<void>;
  readonly kills: () => number;
}

/** Waits for `minInFlight` this long at most before crashing anyway. */
const IN_FLIGHT_WAIT_MS = 5_000;

export function crashSchedule(
  server: DevServer | null,
  inner: Fetch,
  options: { crashes: number; operations: number; minInFlight: number; log: (line: string) => void },
): CrashSchedule {
  let inFlight = 0;
  let kills = 0;
  let next = 0;
  let busy: Promise<void> = Promise.resolve();
  const points = Array.from({ length: options.crashes }, (_, i) =>
    Math.floor((options.operations * (i + 1)) / (options.crashes + 1)),
  );

  const crash = async () => {
    if (server === null) return;
    const started = Date.now();
    while (inFlight < options.minInFlight && Date.now() - started < IN_FLIGHT_WAIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const caught = inFlight;
    server.crash();
    kills += 1;
    options.log(
      `crash ${kills} at ${new Date().toISOString()}: killed the server group (kill -9) with ${caught} requests in flight; restarting`,
    );
    await server.restart();
    options.log(`crash ${kills}: serving again at ${new Date().toISOString()}`);
  };

  return {
    fetch: async (url, init) => {
      inFlight += 1;
      try {
        return await inner(url, init);
      } finally {
        inFlight -= 1;
      }
    },
    tick: (done) => {
      if (server === null || next >= points.length || done < (points[next] ?? Infinity)) return;
      next += 1;
      busy = busy.then(crash);
    },
    settle: () => busy,
    kills: () => kills,
  };
}

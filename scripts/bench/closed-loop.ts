/**
 * Closed-loop throughput with autocannon: a fixed number of connections, each
 * sending its next request as soon as the previous one is answered. Every
 * request gets its account and Idempotency-Key from the plan at the moment it
 * is built, and every answer is tallied against the key that was sent.
 */
import autocannon from "autocannon";
import { CHARGE_BODY, quotedKey } from "./api.ts";
import { CpuWindow } from "./proc-cpu.ts";
import { RequestPlan, Tally, type LoadJob, type LoadResult, type PlannedRequest } from "./workload.ts";

type ClosedJob = Extract<LoadJob, { kind: "closed" }>;

export function runClosedLoop(job: ClosedJob): Promise<LoadResult> {
  const plan = new RequestPlan(job.plan);
  const tally = new Tally(job.expect);
  // autocannon hands the same context object to a request's setupRequest and to its onResponse.
  const inFlight = new WeakMap<object, PlannedRequest>();
  let stopping = false;
  return new Promise((resolve, reject) => {
    const cpu = new CpuWindow(job.target.serverPid);
    const started = performance.now();
    const instance = autocannon(
      {
        url: job.target.baseUrl,
        connections: job.connections,
        pipelining: 1,
        duration: job.seconds,
        timeout: 10,
        method: "POST",
        headers: { authorization: `Bearer ${job.target.token}`, "content-type": "application/json" },
        body: CHARGE_BODY,
        requests: [
          {
            setupRequest: (request, context) => {
              const planned = plan.next();
              inFlight.set(context, planned);
              return {
                ...request,
                path: `/v1/accounts/${planned.account}/charges`,
                headers: { ...request.headers, "idempotency-key": quotedKey(planned.key) },
              };
            },
            onResponse: (status, body, context, headers) => {
              const planned = inFlight.get(context);
              if (planned === undefined) return;
              tally.answer(planned, status, headerValue(headers, "idempotent-replayed"), body);
              if (!stopping && job.stopAfterAccepted !== undefined && tally.acceptedOps >= job.stopAfterAccepted) {
                stopping = true;
                instance.stop();
              }
            },
          },
        ],
      },
      (error, result) => {
        const seconds = (performance.now() - started) / 1000;
        const spent = cpu.end();
        if (error !== null && error !== undefined) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        resolve({
          kind: "closed",
          seconds,
          // autocannon's error count: connection errors, timeouts included
          ...tally.result(plan.sent, spent, result.errors),
          latency: {
            count: tally.responses,
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            p999: result.latency.p99_9,
            max: result.latency.max,
          },
        });
      },
    );
  });
}

/** A response header by name, whatever case the server wrote it in. */
export function headerValue(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const direct = headers[name];
  if (typeof direct === "string") return direct;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === "string") return value;
  }
  return undefined;
}

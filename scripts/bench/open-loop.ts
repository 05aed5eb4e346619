/**
 * Open-loop latency: requests leave on a fixed schedule (rate per second),
 * whether or not earlier ones were answered, and each one's latency runs from
 * its scheduled send time, not from when it actually left. A server stall
 * therefore shows in every request it delays, including those the generator
 * could only send late (no coordinated omission). Node's own HTTP client with
 * as many keep-alive connections as the backlog needs.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { CHARGE_BODY, quotedKey } from "./api.ts";
import { CpuWindow } from "./proc-cpu.ts";
import { quantile, summarizeLatencies } from "./stats.ts";
import { RequestPlan, Tally, type LoadJob, type LoadResult, type PlannedRequest } from "./workload.ts";

type OpenJob = Extract<LoadJob, { kind: "open" }>;

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_SOCKETS = 2048;
const BODY_BYTES = String(Buffer.byteLength(CHARGE_BODY));

export function runOpenLoop(job: OpenJob, stopRequested: () => boolean): Promise<LoadResult> {
  const plan = new RequestPlan(job.plan);
  const tally = new Tally(job.expect);
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const url = new URL(job.target.baseUrl);
  const intervalMs = 1000 / job.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  const timeline: [number, number, number][] = [];
  const epochOffset = performance.timeOrigin;
  let inFlight = 0;

  return new Promise((resolve) => {
    const cpu = new CpuWindow(job.target.serverPid);
    const startAt = performance.now() + 50;
    const endAt = startAt + job.seconds * 1000;
    let index = 0;
    let scheduling = true;

    const finish = () => {
      const seconds = (performance.now() - startAt) / 1000;
      const spent = cpu.end();
      agent.destroy();
      resolve({
        kind: "open",
        seconds,
        ...tally.result(plan.sent, spent),
        latency: summarizeLatencies(latencies),
        sendLagP99Ms: quantile(lags, 0.99),
        ...(job.keepTimeline ? { timeline } : {}),
      });
    };

    const settled = (scheduledAt: number, ok: boolean) => {
      const latency = performance.now() - scheduledAt;
      latencies.push(latency);
      if (job.keepTimeline) timeline.push([epochOffset + scheduledAt, latency, ok ? 1 : 0]);
      inFlight -= 1;
      if (!scheduling && inFlight === 0) finish();
    };

    const send = (scheduledAt: number) => {
      const planned: PlannedRequest = plan.next();
      inFlight += 1;
      lags.push(performance.now() - scheduledAt);
      let done = false;
      const failed = () => {
        if (done) return;
        done = true;
        tally.errors += 1;
        settled(scheduledAt, false);
      };
      const req = httpRequest(
        {
          agent,
          hostname: url.hostname,
          port: url.port,
          method: "POST",
          path: `/v1/accounts/${planned.account}/charges`,
          headers: {
            authorization: `Bearer ${job.target.token}`,
            "content-type": "application/json",
            "content-length": BODY_BYTES,
            "idempotency-key": quotedKey(planned.key),
          },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            if (done) return;
            done = true;
            const ok = tally.answer(
              planned,
              response.statusCode ?? 0,
              replayedHeader(response.headers),
              Buffer.concat(chunks).toString("utf8"),
            );
            settled(scheduledAt, ok);
          });
          response.on("error", failed);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", failed);
      req.end(CHARGE_BODY);
    };

    const tick = () => {
      const now = performance.now();
      for (;;) {
        const scheduledAt = startAt + index * intervalMs;
        if (scheduledAt > now || scheduledAt >= endAt || stopRequested()) break;
        send(scheduledAt);
        index += 1;
      }
      const nextAt = startAt + index * intervalMs;
      if (nextAt >= endAt || stopRequested()) {
        scheduling = false;
        if (inFlight === 0) finish();
        return;
      }
      setTimeout(tick, Math.max(0, nextAt - performance.now()));
    };
    setTimeout(tick, Math.max(0, startAt - performance.now()));
  });
}

function replayedHeader(headers: IncomingHttpHeaders): string | undefined {
  const value = headers["idempotent-replayed"];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Closed-loop load of the two-step money flows, with autocannon as the
 * charges' closed loop (closed-loop.ts): transfers (one direction between
 * two accounts, or between random pairs of a set) and holds with their
 * captures (each connection places a hold, then captures it, in turn). It
 * keeps what the ledger check needs: every transfer and capture answered,
 * and how many requests were sent but never answered (cut off at the end,
 * so possibly decided without the generator knowing).
 */
import { Agent, request as httpRequest } from "node:http";
import autocannon from "autocannon";
import { CHARGE_AMOUNT, CHARGE_BODY, quotedKey } from "./api.ts";
import { headerValue } from "./closed-loop.ts";
import { CpuWindow } from "./proc-cpu.ts";
import { quantile, summarizeLatencies } from "./stats.ts";
import type { FlowJob, FlowTally, LoadResult } from "./workload.ts";

interface Step {
  readonly key: string;
  readonly from: string;
  readonly to: string;
}

/** Per connection: the step in flight and the hold its capture is for. */
interface Connection {
  step?: Step;
  hold?: string | null;
}

export function runFlowLoad(job: FlowJob, stopRequested: () => boolean = () => false): Promise<LoadResult> {
  if (job.rate !== undefined) return runTransfersOpen(job, job.rate, stopRequested);
  const { accounts } = job;
  if (accounts.length < (job.flow === "hold" ? 1 : 2)) throw new Error(`a ${job.flow} flow needs more accounts`);
  const contexts = new WeakMap<object, Connection>();
  const connection = (context: object): Connection => {
    let c = contexts.get(context);
    if (c === undefined) {
      c = {};
      contexts.set(context, c);
    }
    return c;
  };
  let sent = 0;
  let answered = 0;
  let unexpected = 0;
  const unexpectedSample: string[] = [];
  const statuses: Record<string, number> = {};
  const tally: FlowTally = { transfers: [], holdsPlaced: [], captures: [], sent: 0, unanswered: 0 };

  const nextKey = () => {
    sent += 1;
    return `${job.keyPrefix}-${sent}`;
  };
  const pick = (): [string, string] => {
    if (job.flow === "hold") return [accounts[0] as string, accounts[0] as string];
    if (accounts.length === 2 || job.pairs === "one-way") return [accounts[0] as string, accounts[1] as string];
    const from = Math.floor(Math.random() * accounts.length);
    const to = (from + 1 + Math.floor(Math.random() * (accounts.length - 1))) % accounts.length;
    return [accounts[from] as string, accounts[to] as string];
  };
  const answer = (status: number, body: string, replayed: string | undefined): unknown => {
    answered += 1;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status !== 201 || replayed !== "false") {
      unexpected += 1;
      if (unexpectedSample.length < 5)
        unexpectedSample.push(`${status} replayed=${replayed ?? "-"} ${body.slice(0, 200)}`);
      return null;
    }
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return null;
    }
  };
  const field = (json: unknown, name: string): unknown =>
    typeof json === "object" && json !== null ? (json as Record<string, unknown>)[name] : undefined;

  type Request = autocannon.Request;
  const transferStep = {
    setupRequest: (request: Request, context: object) => {
      const [from, to] = pick();
      const step = { key: nextKey(), from, to };
      connection(context).step = step;
      return {
        ...request,
        path: `/v1/accounts/${from}/transfers`,
        body: JSON.stringify({ to, amount: CHARGE_AMOUNT, currency: "USD" }),
        headers: { ...request.headers, "idempotency-key": quotedKey(step.key) },
      };
    },
    onResponse: (status: number, body: string, context: object, headers?: Record<string, unknown>) => {
      const step = connection(context).step;
      if (step === undefined) return;
      const json = answer(status, body, headerValue(headers, "idempotent-replayed"));
      const id = field(json, "id");
      if (typeof id === "string") tally.transfers.push({ id, from: step.from, to: step.to, key: step.key });
    },
  };
  const placeStep = {
    setupRequest: (request: Request, context: object) => {
      const account = accounts[0] as string;
      const c = connection(context);
      c.step = { key: nextKey(), from: account, to: account };
      c.hold = null;
      return {
        ...request,
        path: `/v1/accounts/${account}/holds`,
        body: CHARGE_BODY,
        headers: { ...request.headers, "idempotency-key": quotedKey(c.step.key) },
      };
    },
    onResponse: (status: number, body: string, context: object, headers?: Record<string, unknown>) => {
      const c = connection(context);
      const json = answer(status, body, headerValue(headers, "idempotent-replayed"));
      const id = field(json, "id");
      if (typeof id === "string") {
        c.hold = id;
        tally.holdsPlaced.push(id);
      }
    },
  };
  const captureStep = {
    setupRequest: (request: Request, context: object) => {
      const account = accounts[0] as string;
      const c = connection(context);
      c.step = { key: nextKey(), from: account, to: account };
      // A hold whose placing failed has nothing to capture: its capture is answered 404 and counted unexpected.
      return {
        ...request,
        path: `/v1/accounts/${account}/holds/${c.hold ?? "hold_not_placed"}/captures`,
        body: "{}",
        headers: { ...request.headers, "idempotency-key": quotedKey(c.step.key) },
      };
    },
    onResponse: (status: number, body: string, context: object, headers?: Record<string, unknown>) => {
      const c = connection(context);
      const json = answer(status, body, headerValue(headers, "idempotent-replayed"));
      const entry = field(json, "id");
      if (typeof entry === "string" && typeof c.hold === "string") tally.captures.push({ hold: c.hold, entry });
      c.hold = null;
    },
  };

  return new Promise((resolve, reject) => {
    const cpu = new CpuWindow(job.target.serverPid);
    const started = performance.now();
    autocannon(
      {
        url: job.target.baseUrl,
        connections: job.connections,
        pipelining: 1,
        duration: job.seconds,
        timeout: 10,
        method: "POST",
        headers: { authorization: `Bearer ${job.target.token}`, "content-type": "application/json" },
        requests: job.flow === "hold" ? [placeStep, captureStep] : [transferStep],
      },
      (error, result) => {
        const seconds = (performance.now() - started) / 1000;
        const spent = cpu.end();
        if (error !== null && error !== undefined) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        tally.sent = sent;
        tally.unanswered = sent - answered;
        resolve({
          kind: "flow",
          seconds,
          responses: answered,
          accepted: job.flow === "hold" ? tally.captures.length : tally.transfers.length,
          statuses,
          unexpected,
          unexpectedSample,
          errors: result.errors,
          accounts: {},
          serverCpuSeconds: spent.server,
          loadCpuSeconds: spent.load,
          otherCpuSeconds: spent.other,
          latency: {
            count: answered,
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            p999: result.latency.p99_9,
            max: result.latency.max,
          },
          flow: tally,
        });
      },
    );
  });
}

/**
 * Transfers on a fixed schedule (`rate` a second), as open-loop.ts sends
 * charges: the POST's latency runs from its scheduled send time.
 */
function runTransfersOpen(job: FlowJob, rate: number, stopRequested: () => boolean): Promise<LoadResult> {
  if (job.flow !== "transfer" || job.accounts.length < 2) throw new Error("an open-loop flow sends transfers");
  const agent = new Agent({ keepAlive: true, maxSockets: 2048 });
  const url = new URL(job.target.baseUrl);
  const tally: FlowTally = { transfers: [], holdsPlaced: [], captures: [], sent: 0, unanswered: 0 };
  const statuses: Record<string, number> = {};
  const unexpectedSample: string[] = [];
  const latencies: number[] = [];
  const lags: number[] = [];
  let unexpected = 0;
  let errors = 0;
  let answered = 0;
  let inFlight = 0;
  const intervalMs = 1000 / rate;
  const pick = (): [string, string] => {
    const { accounts } = job;
    if (job.pairs === "one-way") return [accounts[0] as string, accounts[1] as string];
    const from = Math.floor(Math.random() * accounts.length);
    const to = (from + 1 + Math.floor(Math.random() * (accounts.length - 1))) % accounts.length;
    return [accounts[from] as string, accounts[to] as string];
  };
  return new Promise((resolve) => {
    const cpu = new CpuWindow(job.target.serverPid);
    const startAt = performance.now() + 50;
    const endAt = startAt + job.seconds * 1000;
    let index = 0;
    let scheduling = true;
    const finish = () => {
      const spent = cpu.end();
      agent.destroy();
      tally.unanswered = tally.sent - answered;
      resolve({
        kind: "flow",
        seconds: (performance.now() - startAt) / 1000,
        responses: answered,
        accepted: tally.transfers.length,
        statuses,
        unexpected,
        unexpectedSample,
        errors,
        accounts: {},
        serverCpuSeconds: spent.server,
        loadCpuSeconds: spent.load,
        otherCpuSeconds: spent.other,
        latency: summarizeLatencies(latencies),
        sendLagP99Ms: quantile(lags, 0.99),
        flow: tally,
      });
    };
    const settled = (scheduledAt: number) => {
      latencies.push(performance.now() - scheduledAt);
      inFlight -= 1;
      if (!scheduling && inFlight === 0) finish();
    };
    const send = (scheduledAt: number) => {
      const [from, to] = pick();
      tally.sent += 1;
      const key = `${job.keyPrefix}-${tally.sent}`;
      const body = JSON.stringify({ to, amount: CHARGE_AMOUNT, currency: "USD" });
      inFlight += 1;
      lags.push(performance.now() - scheduledAt);
      let done = false;
      const failed = () => {
        if (done) return;
        done = true;
        errors += 1;
        settled(scheduledAt);
      };
      const req = httpRequest(
        {
          agent,
          hostname: url.hostname,
          port: url.port,
          method: "POST",
          path: `/v1/accounts/${from}/transfers`,
          headers: {
            authorization: `Bearer ${job.target.token}`,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "idempotency-key": quotedKey(key),
          },
          timeout: 30_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            if (done) return;
            done = true;
            answered += 1;
            const status = response.statusCode ?? 0;
            statuses[status] = (statuses[status] ?? 0) + 1;
            const text = Buffer.concat(chunks).toString("utf8");
            const replayed = response.headers["idempotent-replayed"];
            let id: unknown;
            try {
              id = (JSON.parse(text) as { id?: unknown }).id;
            } catch {
              id = undefined;
            }
            if (status === 201 && replayed === "false" && typeof id === "string") {
              tally.transfers.push({ id, from, to, key });
            } else {
              unexpected += 1;
              if (unexpectedSample.length < 5) unexpectedSample.push(`${status} ${text.slice(0, 200)}`);
            }
            settled(scheduledAt);
          });
          response.on("error", failed);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", failed);
      req.end(body);
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

/**
 * Batches on one hot account: `POST /v1/accounts/{a}/batches` with `size`
 * new-key charges each, `inFlight` batches at a time, for a fixed time (or
 * until a number of charges was accepted, for a preload). Each operation's
 * result is tallied like a single charge's answer.
 */
import { CHARGE_AMOUNT } from "./api.ts";
import { KeyMaker } from "./keys.ts";
import { CpuWindow } from "./proc-cpu.ts";
import { quantile } from "./stats.ts";
import { Tally, type LoadJob, type LoadResult } from "./workload.ts";

type BatchJob = Extract<LoadJob, { kind: "batch" }>;

const BATCH_TIMEOUT_MS = 120_000;

interface BatchResult {
  readonly status?: unknown;
  readonly replayed?: unknown;
  readonly body?: unknown;
}

export async function runBatchLoad(job: BatchJob): Promise<LoadResult> {
  const tally = new Tally(null);
  const cpu = new CpuWindow(job.target.serverPid);
  const started = performance.now();
  const deadline = started + job.seconds * 1000;
  const batchLatencies: number[] = [];
  let keys = 0;
  const route = { available: true }; // set by any batch, read by all
  let note: string | undefined;
  const maker = new KeyMaker(job.keyKind ?? "counter", job.keyPrefix);
  const enough = () => job.stopAfterAccepted !== undefined && tally.acceptedOps >= job.stopAfterAccepted;
  const issuedEnough = () => job.stopAfterAccepted !== undefined && keys >= job.stopAfterAccepted;

  const sendOne = async (): Promise<void> => {
    // A preload's last batches hold only what is still missing, so it stops close to its target.
    const size = job.stopAfterAccepted === undefined ? job.size : Math.min(job.size, job.stopAfterAccepted - keys);
    if (size <= 0) return;
    const operations: Array<{ type: string; idempotency_key: string; amount: number; currency: string }> = [];
    for (let i = 0; i < size; i++) {
      keys += 1;
      operations.push({
        type: "charge",
        idempotency_key: maker.key(keys),
        amount: CHARGE_AMOUNT,
        currency: "USD",
      });
    }
    const t0 = performance.now();
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${job.target.baseUrl}/v1/accounts/${job.account}/batches`, {
        method: "POST",
        headers: { authorization: `Bearer ${job.target.token}`, "content-type": "application/json" },
        body: JSON.stringify({ operations }),
        signal: AbortSignal.timeout(BATCH_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      tally.errors += 1;
      note ??= `batch failed: ${String(error)}`;
      return;
    }
    batchLatencies.push(performance.now() - t0);
    tally.responses += 1;
    tally.statuses[response.status] = (tally.statuses[response.status] ?? 0) + 1;
    if (response.status === 404 || response.status === 405) {
      route.available = false;
      note = `the batch route answered ${response.status}: ${text.slice(0, 200)}`;
      return;
    }
    let results: BatchResult[] = [];
    try {
      const json = JSON.parse(text) as { results?: unknown };
      if (Array.isArray(json.results)) results = json.results as BatchResult[];
    } catch {
      // counted below as unexpected
    }
    if (response.status !== 200 || results.length !== size) {
      tally.unexpected += size;
      if (tally.unexpectedSample.length < 5)
        tally.unexpectedSample.push(`batch ${response.status} ${text.slice(0, 200)}`);
      return;
    }
    results.forEach((result, i) => {
      const key = (operations[i] as { idempotency_key: string }).idempotency_key;
      if (result.status === 201) {
        tally.acceptedOps += 1;
        tally.accept(job.account, key, result.replayed === true ? null : result.body);
      }
      if (result.status !== 201 || result.replayed !== false) {
        tally.unexpected += 1;
        if (tally.unexpectedSample.length < 5) {
          tally.unexpectedSample.push(`operation ${key}: ${JSON.stringify(result).slice(0, 200)}`);
        }
      }
    });
  };

  // The first batch goes alone: if the route does not exist, nothing else is sent.
  await sendOne();
  if (route.available) {
    await Promise.all(
      Array.from({ length: job.inFlight }, async () => {
        while (route.available && performance.now() < deadline && !enough() && !issuedEnough()) await sendOne();
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const spent = cpu.end();
  return {
    kind: "batch",
    seconds,
    ...tally.result(new Map([[job.account, keys]]), spent),
    latency: {
      count: batchLatencies.length,
      p50: quantile(batchLatencies, 0.5),
      p90: quantile(batchLatencies, 0.9),
      p99: quantile(batchLatencies, 0.99),
      p999: quantile(batchLatencies, 0.999),
      max: batchLatencies.length === 0 ? Number.NaN : Math.max(...batchLatencies),
    },
    batchAvailable: route.available,
    ...(note === undefined ? {} : { batchNote: note }),
  };
}

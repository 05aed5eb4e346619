/**
 * Throughput and latency of the real Worker under `wrangler dev` on this
 * machine: first-time charges, replays of them, and concurrent copies of one
 * key. Prints figures; asserts nothing about speed (that would flake).
 *
 *   npm run bench -- --requests 2000 --concurrency 16 --accounts 20
 */
import { forEachConcurrently } from "./lib/concurrency.ts";
import { DEV_API_KEY, startDevServer } from "./lib/dev-server.ts";
import { integer, readFlags } from "./lib/flags.ts";

const flags = readFlags("Usage: npm run bench -- [options]", {
  requests: integer(2000, 1, 1_000_000, "requests a phase"),
  concurrency: integer(16, 1, 1024, "requests in flight"),
  accounts: integer(20, 1, 10_000, "accounts the charges are spread over"),
});
const REQUESTS = flags.requests;
const CONCURRENCY = flags.concurrency;
const ACCOUNTS = flags.accounts;

const server = await startDevServer("bench");
const base = server.baseUrl;
try {
  const runId = Date.now().toString(36);
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `bench_${runId}_${i}`);
  for (const account of accounts) {
    await send("PUT", `/v1/accounts/${account}`, { currency: "USD" });
    await send(
      "POST",
      `/v1/accounts/${account}/credits`,
      { amount: 1_000_000_000, currency: "USD" },
      `fund-${account}`,
    );
  }
  const charges = Array.from({ length: REQUESTS }, (_, i) => ({
    account: accounts[i % ACCOUNTS] as string,
    key: `bench-${runId}-${i}`,
  }));
  const charge = (c: (typeof charges)[number]) =>
    send("POST", `/v1/accounts/${c.account}/charges`, { amount: 100, currency: "USD" }, c.key);

  const rows = [
    await phase("first-time charges", charges, charge, 201, "false"),
    await phase("replays of those charges", charges, charge, 201, "true"),
    await phase(
      "concurrent copies of one key",
      Array.from({ length: REQUESTS }, () => ({ account: accounts[0] as string, key: `hot-${runId}` })),
      charge,
      201,
    ),
  ];
  console.log(
    `\nOnceLedger under wrangler dev, ${REQUESTS} requests a phase, ${CONCURRENCY} in flight, ${ACCOUNTS} accounts`,
  );
  console.table(rows);
} finally {
  server.stop();
}

async function phase<T>(
  name: string,
  items: readonly T[],
  run: (item: T) => Promise<Response>,
  status: number,
  replayed?: string,
) {
  const latencies: number[] = [];
  const started = performance.now();
  await forEachConcurrently(items, CONCURRENCY, async (item) => {
    const t0 = performance.now();
    const response = await run(item);
    latencies.push(performance.now() - t0);
    await response.arrayBuffer();
    if (response.status !== status) throw new Error(`${name}: got ${response.status}, expected ${status}`);
    if (replayed !== undefined && response.headers.get("idempotent-replayed") !== replayed) {
      throw new Error(`${name}: Idempotent-Replayed was not ${replayed}`);
    }
  });
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    Number((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(1));
  return {
    phase: name,
    requests: items.length,
    "req/s": Math.round(items.length / seconds),
    "p50 ms": pct(0.5),
    "p95 ms": pct(0.95),
    "p99 ms": pct(0.99),
  };
}

function send(method: string, path: string, body: unknown, idempotencyKey?: string): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${DEV_API_KEY}`,
    "content-type": "application/json",
  };
  if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
  return fetch(`${base}${path}`, { method, headers, body: JSON.stringify(body) });
}

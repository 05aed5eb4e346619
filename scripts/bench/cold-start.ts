/**
 * Cold start: how long a fresh workerd process takes from being spawned to
 * answering its first 201 charge (isolate start, the bundle's compilation and
 * top-level code, the account object's construction, the charge itself). The
 * account is opened and funded by an earlier process on the same storage, so
 * each new process only has to charge it.
 */
import { quotedKey, CHARGE_BODY } from "./api.ts";
import type { BenchContext } from "./context.ts";
import { progress } from "./measure.ts";
import { openAccounts } from "./preload.ts";
import { sleep } from "./processes.ts";
import type { ColdStart } from "./report.ts";

const FIRST_CHARGE_TIMEOUT_MS = 30_000;

export async function measureColdStarts(ctx: BenchContext): Promise<ColdStart> {
  const storage = ctx.storageDir("cold");
  const account = ctx.account("cold", 1);
  const setup = await ctx.startProject("cold-setup", {}, storage);
  try {
    await openAccounts(setup, [account]);
  } finally {
    await setup.server.stop();
  }
  const firstChargeMs: number[] = [];
  const listeningMs: number[] = [];
  for (let i = 1; i <= ctx.options.coldStarts; i++) {
    const served = await ctx.startProject("cold", {}, storage);
    try {
      const key = `${ctx.keyPrefix("cold", "c")}-${i}`;
      const deadline = performance.now() + FIRST_CHARGE_TIMEOUT_MS;
      let answeredAt: number | null = null;
      while (answeredAt === null && performance.now() < deadline) {
        try {
          const response = await fetch(`${served.server.baseUrl}/v1/accounts/${account}/charges`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${ctx.key.token}`,
              "content-type": "application/json",
              "idempotency-key": quotedKey(key),
            },
            body: CHARGE_BODY,
            signal: AbortSignal.timeout(FIRST_CHARGE_TIMEOUT_MS),
          });
          await response.arrayBuffer();
          if (response.status === 201) answeredAt = performance.now();
          else throw new Error(`the first charge was answered ${response.status}`);
        } catch (error) {
          if (error instanceof Error && error.message.startsWith("the first charge")) throw error;
          await sleep(5); // not accepting yet
        }
      }
      if (answeredAt === null) throw new Error(`no 201 within ${FIRST_CHARGE_TIMEOUT_MS / 1000} s of starting`);
      firstChargeMs.push(answeredAt - served.server.spawnedAt);
      listeningMs.push(served.server.listeningAt - served.server.spawnedAt);
    } finally {
      await served.server.stop();
    }
  }
  progress(
    `cold start: first 201 after ${firstChargeMs.map((ms) => ms.toFixed(0)).join(", ")} ms (listening after ${listeningMs.map((ms) => ms.toFixed(0)).join(", ")} ms)`,
  );
  return { firstChargeMs, listeningMs };
}

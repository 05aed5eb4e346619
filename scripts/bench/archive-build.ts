/**
 * The archive scenario's setup: an account holding many closed periods,
 * each archived to R2 and then pruned from the object, built through the
 * public API as a client would build it. Each period is `perPeriod` charges
 * in batches (up to --batch-inflight at a time), then a keyed close; the
 * alarm archives and prunes each period meanwhile. Keys are UUIDv7s (found
 * by time once archived) or random (found through the filter), the closes'
 * keys and the funding credit's of the same kind, so no stray key of the
 * other kind lands in the filter.
 */
import type { Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { KeyMaker, type KeyKind } from "./keys.ts";
import { progress } from "./measure.ts";
import type { AccountObjects } from "./object-storage.ts";
import { openAccounts } from "./preload.ts";
import { sleep } from "./processes.ts";
import type { ChargeSample } from "./workload.ts";

export interface Built {
  readonly account: string;
  readonly kind: KeyKind;
  readonly periodsWanted: number;
  readonly periods: number;
  readonly perPeriod: number;
  /** Charges answered 201 (the account holds these and its funding credit). */
  readonly charges: number;
  readonly buildSeconds: number;
  /** Archived keys to retry later, spread over the periods. */
  readonly sampleKeys: readonly string[];
  readonly failures: readonly string[];
}

/** A funding key of `kind` for `account`'s scenario (keys.ts tags it with the prefix). */
export function fundingKeys(ctx: BenchContext, kind: KeyKind, expected: Expected) {
  const prefix = ctx.keyPrefix("arch", `fund-${kind}`);
  const maker = new KeyMaker(kind, prefix);
  let n = 0;
  expected.keyPrefixes.add(prefix);
  return { key: (_account: string) => maker.key(++n), expected };
}

interface BatchResult {
  readonly status?: unknown;
  readonly body?: { id?: unknown; balance_after?: unknown; idempotency_key?: unknown };
}

export async function buildArchived(
  ctx: BenchContext,
  served: Served,
  expected: Expected,
  kind: KeyKind,
  periodsWanted: number,
  perPeriod: number,
  boundSeconds: number,
  sampleWanted: number,
): Promise<Built> {
  const { options } = ctx;
  const account = ctx.account("arch", kind === "uuidv7" ? "v7" : "rnd");
  await openAccounts(served, [account], 60, fundingKeys(ctx, kind, expected));
  const prefix = ctx.keyPrefix("arch", `build-${kind}`);
  const closePrefix = ctx.keyPrefix("arch", `close-${kind}`);
  expected.keyPrefixes.add(prefix);
  const keys = new KeyMaker(kind, prefix);
  const closeKeys = new KeyMaker(kind, closePrefix);
  const perBatch = options.batchSize;
  const samplePerPeriod = Math.max(1, Math.ceil(sampleWanted / periodsWanted));
  const sampleKeys: string[] = [];
  const samples: ChargeSample[] = [];
  const failures: string[] = [];
  const fail = (message: string) => {
    if (failures.length < 10) failures.push(message);
  };
  let n = 0;
  let sent = 0;
  let accepted = 0;
  let periods = 0;
  const started = Date.now();
  const deadline = started + boundSeconds * 1000;
  const every = Math.max(1, Math.round(periodsWanted / 10));
  progress(
    `archive: building ${periodsWanted.toLocaleString("en-US")} periods x ${perPeriod.toLocaleString("en-US")} charges with ${kind} keys on ${account} (at most ${boundSeconds} s)`,
  );
  while (periods < periodsWanted && Date.now() < deadline) {
    const sizes: number[] = [];
    for (let left = perPeriod; left > 0; left -= perBatch) sizes.push(Math.min(perBatch, left));
    let next = 0;
    const sampleFrom = new Set(Array.from({ length: samplePerPeriod }, () => Math.floor(Math.random() * perPeriod)));
    let inPeriod = 0;
    const worker = async () => {
      while (next < sizes.length) {
        const size = sizes[next++] as number;
        const first = inPeriod;
        inPeriod += size;
        const operations = Array.from({ length: size }, () => ({
          type: "charge",
          idempotency_key: keys.key(++n),
          amount: 1,
          currency: "USD",
        }));
        sent += size;
        const answer = await served.api.call("POST", `/v1/accounts/${account}/batches`, { operations });
        const results = (answer.json as { results?: BatchResult[] } | null)?.results;
        if (answer.status !== 200 || !Array.isArray(results) || results.length !== size) {
          fail(`a batch was answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 200)}`);
          continue;
        }
        results.forEach((result, i) => {
          if (result.status !== 201) {
            fail(`operation answered ${String(result.status)}: ${JSON.stringify(result).slice(0, 200)}`);
            return;
          }
          accepted += 1;
          const key = (operations[i] as { idempotency_key: string }).idempotency_key;
          if (sampleFrom.has(first + i)) sampleKeys.push(key);
          const body = result.body;
          if (
            samples.length < 64 &&
            i === 0 &&
            typeof body?.id === "string" &&
            typeof body.balance_after === "number"
          ) {
            samples.push({ id: body.id, balanceAfter: body.balance_after, key });
          }
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.batchInflight, sizes.length) }, worker));
    const closed = await served.api.call("POST", `/v1/accounts/${account}/periods`, {}, closeKeys.key(periods + 1));
    if (closed.status !== 201) {
      fail(`close ${periods + 1} was answered ${closed.status}: ${JSON.stringify(closed.json).slice(0, 200)}`);
      break;
    }
    periods += 1;
    if (periods % every === 0 || periods === periodsWanted) {
      const seconds = (Date.now() - started) / 1000;
      progress(
        `archive: ${kind}: ${periods.toLocaleString("en-US")} periods, ${accepted.toLocaleString("en-US")} charges in ${seconds.toFixed(0)} s (${Math.round(accepted / seconds).toLocaleString("en-US")}/s)`,
      );
    }
  }
  expected.addTally(account, { sent, accepted, samples });
  return {
    account,
    kind,
    periodsWanted,
    periods,
    perPeriod,
    charges: accepted,
    buildSeconds: (Date.now() - started) / 1000,
    sampleKeys,
    failures,
  };
}

export interface Settled {
  /** Seconds from `fromMs` until no period of these accounts was closing, until none held rows, and until the locator settled. */
  readonly archivedSeconds: number | null;
  readonly prunedSeconds: number | null;
  readonly locatorSeconds: number | null;
  readonly complete: boolean;
}

/** Waits (bounded) until every period of `accounts` is archived and its rows pruned, and the locator settled, reading their SQLite files. */
export async function waitSettled(
  objects: AccountObjects,
  accounts: readonly string[],
  fromMs: number,
  boundSeconds: number,
): Promise<Settled> {
  const deadline = Date.now() + boundSeconds * 1000;
  let archivedAt: number | null = null;
  let prunedAt: number | null = null;
  let lastNote = 0;
  for (;;) {
    const states = accounts.map((account) => objects.periods(account));
    const closing = states.reduce((s, p) => s + p.closing, 0);
    const unpruned = states.reduce((s, p) => s + p.unpruned, 0);
    const locator = states.reduce((s, p) => s + p.locatorPending, 0);
    const now = Date.now();
    if (closing === 0) archivedAt ??= now;
    if (unpruned === 0) prunedAt ??= now;
    if (unpruned === 0 && locator === 0) {
      return {
        archivedSeconds: ((archivedAt ?? now) - fromMs) / 1000,
        prunedSeconds: ((prunedAt ?? now) - fromMs) / 1000,
        locatorSeconds: (now - fromMs) / 1000,
        complete: true,
      };
    }
    if (now > deadline) {
      return {
        archivedSeconds: archivedAt === null ? null : (archivedAt - fromMs) / 1000,
        prunedSeconds: prunedAt === null ? null : (prunedAt - fromMs) / 1000,
        locatorSeconds: null,
        complete: false,
      };
    }
    if (now - lastNote > 15_000) {
      lastNote = now;
      progress(
        `archive: waiting: ${closing} periods still closing, ${unpruned} not yet pruned, ${locator} locator runs not settled`,
      );
    }
    await sleep(500);
  }
}

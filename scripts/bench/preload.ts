/**
 * Fills an account with charges (and so idempotency records) before a
 * scenario: through the batch endpoint when the server has it, else with
 * concurrent single charges; bounded in time either way.
 */
import { forEachUntil } from "./api.ts";
import type { Expected } from "./check.ts";
import type { BenchContext, Served } from "./context.ts";
import { load, progress } from "./measure.ts";

export interface Preloaded {
  readonly account: string;
  readonly wanted: number;
  /** Charges the account holds afterwards. */
  readonly holds: number;
  readonly added: number;
  readonly seconds: number;
  readonly via: "batches" | "single charges" | "nothing to add";
  /** The time bound stopped it short of `wanted`. */
  readonly bounded: boolean;
}

export async function preload(
  ctx: BenchContext,
  served: Served,
  expected: Expected,
  label: string,
  account: string,
  wanted: number,
  boundSeconds: number,
): Promise<Preloaded> {
  const have = (await served.api.account(account)).entry_count - 1;
  const need = wanted - have;
  if (need <= 0) {
    return { account, wanted, holds: have, added: 0, seconds: 0, via: "nothing to add", bounded: false };
  }
  const keyPrefix = ctx.keyPrefix(label, "pre");
  const viaBatches = ctx.batchAvailable === true;
  progress(
    `${label}: preloading ${need.toLocaleString("en-US")} charges via ${viaBatches ? "batches" : "single charges"} (at most ${boundSeconds} s)`,
  );
  const seconds = Math.max(1, Math.ceil(boundSeconds));
  const result = viaBatches
    ? await load(
        ctx,
        {
          kind: "batch",
          target: served.target,
          account,
          keyPrefix,
          size: ctx.options.batchSize,
          inFlight: ctx.options.batchInflight,
          seconds,
          stopAfterAccepted: need,
        },
        expected,
      )
    : await load(
        ctx,
        {
          kind: "closed",
          target: served.target,
          plan: { accounts: [account], mode: "new", keyPrefix, dupEvery: ctx.options.dupEvery },
          expect: { status: 201, replayed: "false" },
          connections: ctx.options.connections,
          seconds,
          stopAfterAccepted: need,
        },
        expected,
      );
  const holds = (await served.api.account(account)).entry_count - 1;
  const out: Preloaded = {
    account,
    wanted,
    holds,
    added: holds - have,
    seconds: result.seconds,
    via: viaBatches ? "batches" : "single charges",
    bounded: holds < wanted,
  };
  progress(
    `${label}: the account holds ${holds.toLocaleString("en-US")} charges (${Math.round(out.added / out.seconds).toLocaleString("en-US")}/s)`,
  );
  return out;
}

export function preloadNote(p: Preloaded): string {
  if (p.added === 0) return `the account already held ${p.holds.toLocaleString("en-US")} charges: no preload`;
  const rate = p.seconds > 0 ? `, ${Math.round(p.added / p.seconds).toLocaleString("en-US")}/s` : "";
  const bound = p.bounded
    ? `; short of ${p.wanted.toLocaleString("en-US")} (--preload-seconds bound${p.via === "single charges" ? "; no batch endpoint" : ""})`
    : "";
  return `preloaded to ${p.holds.toLocaleString("en-US")} charges via ${p.via} in ${p.seconds.toFixed(0)} s${rate}${bound}`;
}

/**
 * Opens and funds every account, a few at a time, within `seconds`; the
 * funding credit's key is `fundingKey(account)` when given (recorded in
 * `expected` for the check), else `fund-<account>`.
 */
export async function openAccounts(
  served: Served,
  accounts: readonly string[],
  seconds = 300,
  funding?: { readonly key: (account: string) => string; readonly expected: Expected },
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let opened = 0;
  await forEachUntil(accounts, 16, deadline, async (account) => {
    const key = funding?.key(account);
    if (key !== undefined) funding?.expected.fundingKeys.set(account, key);
    await served.api.openAndFund(account, key);
    opened += 1;
  });
  if (opened < accounts.length) throw new Error(`opened only ${opened} of ${accounts.length} accounts in ${seconds} s`);
}

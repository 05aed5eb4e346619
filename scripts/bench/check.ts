/**
 * After every scenario: does the ledger hold exactly the money the load
 * generator was told it moved? Read back through the public API alone, for
 * every account the scenario touched:
 *
 * - balance = FUNDING - charges and entry_count = charges + 1, where the
 *   number of charges lies within [keys answered 201, keys sent];
 * - the entries, page by page: seq gapless from 1, each balance_after the
 *   running sum, exactly one credit (the funding, first), every charge -1,
 *   no Idempotency-Key twice, every key one this run sent;
 * - the last entry's seq and balance_after agree with the account.
 *
 * Accounts with more than `maxFullEntries` entries are sampled (the first
 * pages, pages after charges the generator saw answered, and the last
 * pages), so the check stays bounded; the result says how much was read.
 */
import { CHARGE_AMOUNT, FUNDING, forEachUntil, fundingKeyOf, type Entry, type LedgerApi } from "./api.ts";
import { madeUnder, prefixTag } from "./keys.ts";
import type { AccountTally, ChargeSample, LoadResult } from "./workload.ts";

const PAGES_PER_SAMPLE = 10;
const SAMPLED_SEGMENTS = 4;
const TAIL_PAGES = 50;
const CHECK_CONCURRENCY = 8;
const MAX_FAILURES = 20;

/** What a scenario did to each account: merged from every load it ran, plus single charges it made itself. */
export class Expected {
  readonly accounts = new Map<string, { sent: number; accepted: number; samples: ChargeSample[] }>();
  readonly keyPrefixes = new Set<string>();
  /** Accounts funded under a key other than `fund-<account>`. */
  readonly fundingKeys = new Map<string, string>();

  touch(account: string): void {
    if (!this.accounts.has(account)) this.accounts.set(account, { sent: 0, accepted: 0, samples: [] });
  }

  addLoad(result: LoadResult, keyPrefix: string): void {
    this.keyPrefixes.add(keyPrefix);
    for (const [account, tally] of Object.entries(result.accounts)) this.addTally(account, tally);
  }

  addTally(account: string, tally: AccountTally): void {
    this.touch(account);
    const entry = this.accounts.get(account);
    if (entry === undefined) return;
    entry.sent += tally.sent;
    entry.accepted += tally.accepted;
    entry.samples.push(...tally.samples);
  }

  /** A single charge the scenario sent itself (e.g. the replayed one), `accepted` if answered 201. */
  addSingle(account: string, keyPrefix: string, accepted: boolean, sample: ChargeSample | null): void {
    this.keyPrefixes.add(keyPrefix);
    this.addTally(account, { sent: 1, accepted: accepted ? 1 : 0, samples: sample === null ? [] : [sample] });
  }
}

export interface CheckResult {
  readonly ok: boolean;
  /** Some account could not be checked within the time bound (not a failure in itself). */
  readonly incomplete: boolean;
  readonly failures: readonly string[];
  readonly accounts: number;
  readonly accountsSampled: number;
  readonly entries: number;
  readonly entriesRead: number;
  readonly charges: number;
  readonly keysAccepted: number;
  readonly keysSent: number;
  readonly seconds: number;
}

interface AccountOutcome {
  entries: number;
  entriesRead: number;
  charges: number;
  sampled: boolean;
}

export async function checkLedger(
  api: LedgerApi,
  expected: Expected,
  options: { readonly maxFullEntries: number; readonly seconds: number },
): Promise<CheckResult> {
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const failures: string[] = [];
  const fail = (message: string) => {
    if (failures.length < MAX_FAILURES) failures.push(message);
    else if (failures.length === MAX_FAILURES) failures.push("... (more)");
  };
  const prefixes = [...expected.keyPrefixes].map((prefix) => ({ prefix, tag: prefixTag(prefix) }));
  const outcomes = new Map<string, AccountOutcome>();
  await forEachUntil([...expected.accounts], CHECK_CONCURRENCY, deadline, async ([account, tally]) => {
    try {
      const fundingKey = expected.fundingKeys.get(account) ?? fundingKeyOf(account);
      const outcome = await checkAccount(
        api,
        account,
        tally,
        prefixes,
        fundingKey,
        options.maxFullEntries,
        deadline,
        (m) => fail(`${account}: ${m}`),
      );
      outcomes.set(account, outcome);
    } catch (error) {
      fail(`${account}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  let keysAccepted = 0;
  let keysSent = 0;
  for (const tally of expected.accounts.values()) {
    keysAccepted += tally.accepted;
    keysSent += tally.sent;
  }
  const values = [...outcomes.values()];
  return {
    ok: failures.length === 0,
    incomplete: outcomes.size < expected.accounts.size,
    failures,
    accounts: expected.accounts.size,
    accountsSampled: values.filter((o) => o.sampled).length,
    entries: values.reduce((sum, o) => sum + o.entries, 0),
    entriesRead: values.reduce((sum, o) => sum + o.entriesRead, 0),
    charges: values.reduce((sum, o) => sum + o.charges, 0),
    keysAccepted,
    keysSent,
    seconds: (Date.now() - started) / 1000,
  };
}

async function checkAccount(
  api: LedgerApi,
  account: string,
  tally: { sent: number; accepted: number; samples: readonly ChargeSample[] },
  prefixes: readonly KeyPrefix[],
  fundingKey: string,
  maxFullEntries: number,
  deadline: number,
  fail: (message: string) => void,
): Promise<AccountOutcome> {
  const state = await api.account(account);
  const charges = state.entry_count - 1;
  if (state.balance !== FUNDING - charges * CHARGE_AMOUNT) {
    fail(`balance ${state.balance} != funding ${FUNDING} - ${charges} charges of ${CHARGE_AMOUNT}`);
  }
  if (charges < tally.accepted || charges > tally.sent) {
    fail(`${charges} charges, but ${tally.accepted} keys were answered 201 and ${tally.sent} sent`);
  }
  const seenKeys = new Set<string>();
  const reader = new SegmentReader(api, account, prefixes, fundingKey, seenKeys, deadline, fail);
  const sampled = state.entry_count > maxFullEntries;
  if (!sampled) {
    const end = await reader.read(null, { seq: 0, balanceAfter: 0 }, Number.POSITIVE_INFINITY);
    if (end.reachedEnd) {
      if (end.last.seq !== state.entry_count) fail(`read ${end.last.seq} entries, entry_count is ${state.entry_count}`);
      if (end.last.balanceAfter !== state.balance) {
        fail(`entries sum to ${end.last.balanceAfter}, balance is ${state.balance}`);
      }
    }
    return { entries: state.entry_count, entriesRead: reader.entriesRead, charges, sampled };
  }
  // The start, a spread of segments after charges the generator saw (their balance is known), and the tail.
  await reader.read(null, { seq: 0, balanceAfter: 0 }, PAGES_PER_SAMPLE);
  const samples = [...tally.samples].sort((x, y) => y.balanceAfter - x.balanceAfter); // oldest first
  const step = Math.max(1, Math.floor(samples.length / SAMPLED_SEGMENTS));
  for (let i = 0; i < samples.length - 1; i += step) {
    const sample = samples[i] as ChargeSample;
    await reader.read(
      sample.id,
      { seq: FUNDING - sample.balanceAfter + 1, balanceAfter: sample.balanceAfter },
      PAGES_PER_SAMPLE,
    );
  }
  const latest = samples[samples.length - 1];
  if (latest !== undefined) {
    const end = await reader.read(
      latest.id,
      { seq: FUNDING - latest.balanceAfter + 1, balanceAfter: latest.balanceAfter },
      TAIL_PAGES,
    );
    if (end.reachedEnd) {
      if (end.last.seq !== state.entry_count)
        fail(`last entry has seq ${end.last.seq}, entry_count is ${state.entry_count}`);
      if (end.last.balanceAfter !== state.balance) {
        fail(`last entry's balance_after ${end.last.balanceAfter} != balance ${state.balance}`);
      }
    }
  }
  return { entries: state.entry_count, entriesRead: reader.entriesRead, charges, sampled };
}

interface KeyPrefix {
  readonly prefix: string;
  readonly tag: string;
}

/** Where a segment starts: the entry before it (seq and balance_after), known from the API or a charge's answer. */
interface Position {
  readonly seq: number;
  readonly balanceAfter: number;
}

class SegmentReader {
  entriesRead = 0;
  private readonly api: LedgerApi;
  private readonly account: string;
  private readonly prefixes: readonly KeyPrefix[];
  private readonly fundingKey: string;
  private readonly seenKeys: Set<string>;
  /** Sampled segments may overlap: an entry read twice is checked for order, not counted twice. */
  private readonly seenSeqs = new Set<number>();
  private readonly deadline: number;
  private readonly fail: (message: string) => void;

  constructor(
    api: LedgerApi,
    account: string,
    prefixes: readonly KeyPrefix[],
    fundingKey: string,
    seenKeys: Set<string>,
    deadline: number,
    fail: (message: string) => void,
  ) {
    this.api = api;
    this.account = account;
    this.prefixes = prefixes;
    this.fundingKey = fundingKey;
    this.seenKeys = seenKeys;
    this.deadline = deadline;
    this.fail = fail;
  }

  /**
   * Reads up to `maxPages` pages after entry `after` (null: from the start),
   * checking each entry against the one before it.
   */
  async read(
    after: string | null,
    start: Position,
    maxPages: number,
  ): Promise<{ reachedEnd: boolean; last: Position }> {
    let cursor = after;
    let position = start;
    for (let page = 0; page < maxPages && Date.now() < this.deadline; page++) {
      const { data, has_more: hasMore } = await this.api.entries(this.account, cursor);
      for (const entry of data) {
        position = this.checkEntry(entry, position);
        cursor = entry.id;
      }
      if (!hasMore) return { reachedEnd: true, last: position };
      if (data.length === 0) {
        this.fail(`has_more with an empty page after ${cursor ?? "the start"}`);
        break;
      }
    }
    return { reachedEnd: false, last: position };
  }

  private checkEntry(entry: Entry, before: Position): Position {
    const fail = (message: string) => this.fail(`entry seq ${entry.seq}: ${message}`);
    if (entry.seq !== before.seq + 1) fail(`follows seq ${before.seq}`);
    if (entry.balance_after !== before.balanceAfter + entry.amount) {
      fail(`balance_after ${entry.balance_after} != ${before.balanceAfter} + ${entry.amount}`);
    }
    if (this.seenSeqs.has(entry.seq)) return { seq: entry.seq, balanceAfter: entry.balance_after };
    this.seenSeqs.add(entry.seq);
    this.entriesRead += 1;
    if (this.seenKeys.has(entry.idempotency_key)) fail(`Idempotency-Key ${entry.idempotency_key} used twice`);
    this.seenKeys.add(entry.idempotency_key);
    if (entry.type === "credit") {
      if (entry.seq !== 1 || entry.amount !== FUNDING || entry.idempotency_key !== this.fundingKey) {
        fail(`a credit other than the funding (${entry.amount}, key ${entry.idempotency_key})`);
      }
    } else if (entry.type === "charge") {
      if (entry.amount !== -CHARGE_AMOUNT) fail(`charge of ${-entry.amount}, every charge was ${CHARGE_AMOUNT}`);
      if (!this.prefixes.some(({ prefix, tag }) => madeUnder(entry.idempotency_key, prefix, tag))) {
        fail(`charge with key ${entry.idempotency_key}, which this run never sent`);
      }
    } else {
      fail(`unexpected ${entry.type}`);
    }
    if (entry.seq === 1 && entry.type !== "credit") fail("the first entry is not the funding credit");
    return { seq: entry.seq, balanceAfter: entry.balance_after };
  }
}

import { LOCATOR_BUCKETS_PER_OBJECT, LOCATOR_MERGE_RATIO, LOCATOR_ROWS_PER_STEP } from "../domain/limits.ts";
import {
  allRuns,
  bucketBitsFor,
  bucketOf,
  bucketRowId,
  compareEntries,
  decodeLocatorObject,
  encodeBucket,
  encodeLocatorObject,
  insertRun,
  locatorObjectName,
  objectCountOf,
  objectOf,
  objectRange,
  stagedCount,
  updateRun,
  valueRangeFor,
  valueOf,
  type LocatorEntry,
  type RunRow,
} from "./key-locator.ts";
import type { RunStorage } from "./alarm-schedule.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The locator's background job (key-locator.ts), one bounded step per call:
 * build the next object of a run (from staged hashes, or by merging two
 * runs' objects), then switch it live in one transaction (and retire what
 * it merged); delete a live run's staged hashes; delete a retired run's rows
 * and objects; or start a merge. An object is written and read back before
 * its buckets are recorded, and its name and bytes depend only on its run,
 * so a repeated step writes the same thing. Until a run is live its keys are
 * found where they were (staging, or the runs it merges), and they leave
 * there only after it is.
 */

export interface LocatorHost {
  /** The alarm run's writes: each R2 write is checked first, each storage write on its way. */
  readonly storage: RunStorage;
  readonly sql: CountedSql;
  prefix(): string;
  /** Told after every change to which runs or staged hashes a lookup reads. */
  locatorChanged(): void;
}

export interface LocatorStep {
  readonly did: "locator";
  readonly r2Operations: number;
}

/**
 * The merge's last input objects read: a smaller input's object covers many
 * of the merged run's, so consecutive steps read it again. An object never
 * changes while its run exists, so a copy is as good; emptied as each merge
 * starts, so it never outlives the runs it copies (a restore numbers runs
 * from 1 again).
 */
const recentInputs = new Map<string, LocatorEntry[]>();
const RECENT_INPUTS = 2;

/** Starts the run of a period's staged hashes (none when it staged none). Call in the transaction that ends its filter step. */
export function startStagedRun(sql: CountedSql, periodId: number): void {
  const keys = stagedCount(sql, periodId);
  if (keys === 0) return;
  const bucketBits = bucketBitsFor(keys);
  insertRun(sql, {
    id: nextRunId(sql),
    state: "building",
    keys,
    bucketBits,
    valueRange: valueRangeFor(keys, bucketBits, keys >= otherKeys(allRuns(sql), [])),
    source: { kind: "staging", period: periodId },
    staged: true,
  });
}

/** The keys of the runs not retired, but for those in `replaced`: what a new run would sit beside. */
function otherKeys(runs: readonly RunRow[], replaced: readonly number[]): number {
  return runs
    .filter((run) => run.state !== "retired" && !replaced.includes(run.id))
    .reduce((sum, run) => sum + run.keys, 0);
}

function nextRunId(sql: CountedSql): number {
  return (sql.first<{ id: number | null }>("SELECT MAX(id) AS id FROM locator_runs")?.id ?? 0) + 1;
}

/**
 * One step of the locator's work; null when it has none. In this order: a
 * run's staged hashes once lookups no longer need them, a retired run's
 * objects, the merge under way, a merge due, the oldest run still to build
 * from staged hashes. Merges come before builds, so even a restore that
 * stages many periods at once leaves few runs to read at any time.
 */
export async function locatorStep(host: LocatorHost, bucket: R2Bucket): Promise<LocatorStep | null> {
  const runs = allRuns(host.sql);
  const staged = runs.find((run) => run.staged && run.state !== "building");
  if (staged !== undefined) return unstage(host, staged);
  const retired = runs.find((run) => run.state === "retired");
  if (retired !== undefined) return deleteRetired(host, bucket, retired);
  const merging = runs.find((run) => run.state === "building" && run.source.kind === "merge");
  if (merging !== undefined) return buildNext(host, bucket, merging, runs);
  // The two smallest live runs merge while the larger holds under LOCATOR_MERGE_RATIO times the smaller's keys.
  const [larger, smaller] = runs
    .filter((run) => run.state === "live")
    .sort((a, b) => b.keys - a.keys || a.id - b.id)
    .slice(-2);
  if (larger !== undefined && smaller !== undefined && larger.keys < LOCATOR_MERGE_RATIO * smaller.keys) {
    const keys = larger.keys + smaller.keys;
    const bucketBits = bucketBitsFor(keys);
    recentInputs.clear();
    host.storage.transactionSync(() =>
      insertRun(host.sql, {
        id: nextRunId(host.sql),
        state: "building",
        keys,
        bucketBits,
        valueRange: valueRangeFor(keys, bucketBits, keys >= otherKeys(runs, [larger.id, smaller.id])),
        source: { kind: "merge", larger: larger.id, smaller: smaller.id },
        staged: false,
      }),
    );
    return { did: "locator", r2Operations: 0 };
  }
  const building = runs.find((run) => run.state === "building");
  if (building !== undefined) return buildNext(host, bucket, building, runs);
  return null;
}

async function buildNext(
  host: LocatorHost,
  bucket: R2Bucket,
  run: RunRow,
  runs: readonly RunRow[],
): Promise<LocatorStep> {
  const n = run.nextObject;
  const range = objectRange(run.bucketBits, n);
  let r2Operations = 0;
  let entries: LocatorEntry[];
  if (run.source.kind === "staging") {
    entries = host.sql
      .rows<{ high: number; low: number }>(
        "SELECT high, low FROM filter_staging WHERE period_id = ? AND high >= ? AND high < ? ORDER BY high, low",
        run.source.period,
        range.from,
        range.to,
      )
      .map((row) => ({ high: row.high, low: row.low, period: (run.source as { period: number }).period }));
  } else {
    const inputs = [run.source.larger, run.source.smaller].map((id) => runs.find((r) => r.id === id));
    entries = [];
    for (const input of inputs) {
      if (input?.state !== "live") throw new Error(`invariant: locator run ${run.id} merges a run that is not live`);
      const slice = await inputSlice(host, bucket, input, range);
      r2Operations += slice.reads;
      entries.push(...slice.entries);
    }
    entries.sort(compareEntries);
  }
  if (entries.length > 0) {
    const name = locatorObjectName(host.prefix(), run.id, n);
    const bytes = await encodeLocatorObject(entries);
    host.storage.check();
    await bucket.put(name, bytes);
    const back = await bucket.get(name);
    r2Operations += 2;
    const stored = back === null ? null : new Uint8Array(await back.arrayBuffer());
    if (stored === null || !sameBytes(stored, bytes)) throw new Error(`archive: ${name} did not read back as written`);
  }
  const done = n + 1 === objectCountOf(run.bucketBits);
  const written = run.written + entries.length;
  if (done && written !== run.keys) {
    throw new Error(`invariant: locator run ${run.id} holds ${written} hashes, not ${run.keys}`);
  }
  host.storage.transactionSync(() => {
    writeBuckets(host.sql, run, entries);
    updateRun(host.sql, run.id, { nextObject: n + 1, written, ...(done ? { state: "live" } : {}) });
    if (run.source.kind === "merge") {
      // Lookups now read the merge up to range.to (runsFor): the inputs' buckets wholly below it go, so
      // a merge never holds its keys twice in the object.
      for (const id of [run.source.larger, run.source.smaller]) {
        const input = runs.find((r) => r.id === id) as RunRow;
        host.sql.run(
          "DELETE FROM locator_buckets WHERE id >= ? AND id < ?",
          bucketRowId(id, 0),
          bucketRowId(id, Math.floor(range.to / 2 ** (32 - input.bucketBits))),
        );
        if (done) updateRun(host.sql, id, { state: "retired", nextObject: 0 });
      }
    }
  });
  if (done || run.source.kind === "merge") host.locatorChanged();
  return { did: "locator", r2Operations };
}

/** The entries of a live run that fall in `range`: one object of it holds them all, since runs only grow by merging. */
async function inputSlice(
  host: LocatorHost,
  bucket: R2Bucket,
  input: RunRow,
  range: { from: number; to: number },
): Promise<{ entries: LocatorEntry[]; reads: number }> {
  const n = objectOf([range.from, 0], input.bucketBits);
  const { from, to } = objectRange(input.bucketBits, n);
  if (range.from < from || range.to > to) {
    throw new Error(`invariant: locator run ${input.id}'s object ${n} does not cover a merged object's range`);
  }
  // An object is written only when its buckets hold a hash: read it only then (and a name left by an
  // object lost with its storage, whose run ids began again, is never read for a run that wrote none).
  const firstBucket = n * LOCATOR_BUCKETS_PER_OBJECT;
  const held = host.sql.first<{ n: number }>(
    "SELECT COUNT(*) AS n FROM locator_buckets WHERE id >= ? AND id < ?",
    bucketRowId(input.id, firstBucket),
    bucketRowId(input.id, firstBucket + LOCATOR_BUCKETS_PER_OBJECT),
  );
  if ((held?.n ?? 0) === 0) return { entries: [], reads: 0 };
  const name = locatorObjectName(host.prefix(), input.id, n);
  let entries = recentInputs.get(name);
  let reads = 0;
  if (entries === undefined) {
    const stored = await bucket.get(name);
    reads = 1;
    if (stored === null) throw new Error(`archive: ${name} is missing from the bucket`);
    entries = await decodeLocatorObject(new Uint8Array(await stored.arrayBuffer()), name);
    recentInputs.set(name, entries);
    if (recentInputs.size > RECENT_INPUTS) recentInputs.delete(recentInputs.keys().next().value as string);
  }
  return { entries: entries.filter((entry) => entry.high >= range.from && entry.high < range.to), reads };
}

/** Each bucket the entries fill, as its Golomb-coded set of values; a repeated step writes the same rows. */
function writeBuckets(sql: CountedSql, run: RunRow, entries: readonly LocatorEntry[]): void {
  const buckets = new Map<number, number[]>();
  for (const entry of entries) {
    const hash = [entry.high, entry.low] as const;
    const b = bucketOf(hash, run.bucketBits);
    const values = buckets.get(b);
    if (values === undefined) buckets.set(b, [valueOf(hash, run.valueRange)]);
    else values.push(valueOf(hash, run.valueRange));
  }
  for (const [b, values] of buckets) {
    const set = encodeBucket(values, run.valueRange);
    sql.run(
      "INSERT INTO locator_buckets (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
      bucketRowId(run.id, b),
      set.buffer.slice(set.byteOffset, set.byteOffset + set.byteLength) as ArrayBuffer,
    );
  }
}

/** Deletes a bounded share of a run's staged hashes: lookups read the run now (or the merge that retired it). */
function unstage(host: LocatorHost, run: RunRow): LocatorStep {
  if (run.source.kind !== "staging") throw new Error(`invariant: locator run ${run.id} was not staged`);
  const period = run.source.period;
  const done = host.storage.transactionSync(() => {
    const deleted = host.sql.write(
      `DELETE FROM filter_staging WHERE (period_id, high, low) IN
         (SELECT period_id, high, low FROM filter_staging WHERE period_id = ? LIMIT ?)`,
      period,
      LOCATOR_ROWS_PER_STEP,
    );
    if (deleted < LOCATOR_ROWS_PER_STEP) updateRun(host.sql, run.id, { staged: false });
    return deleted < LOCATOR_ROWS_PER_STEP;
  });
  // Lookups may go on probing the staged hashes until the last are gone: they find what the run holds.
  if (done) host.locatorChanged();
  return { did: "locator", r2Operations: 0 };
}

/** Deletes a bounded share of a retired run: any bucket rows left first (lookups no longer read them), then its objects. */
async function deleteRetired(host: LocatorHost, bucket: R2Bucket, run: RunRow): Promise<LocatorStep> {
  const rows = host.storage.transactionSync(() =>
    host.sql.write(
      `DELETE FROM locator_buckets WHERE id IN
         (SELECT id FROM locator_buckets WHERE id >= ? AND id < ? ORDER BY id LIMIT ?)`,
      bucketRowId(run.id, 0),
      bucketRowId(run.id + 1, 0),
      LOCATOR_ROWS_PER_STEP,
    ),
  );
  if (rows > 0) return { did: "locator", r2Operations: 0 };
  const count = objectCountOf(run.bucketBits);
  // R2 deletes at most 1,000 keys a call; deleting an absent object is not an error.
  const upTo = Math.min(count, run.nextObject + 1_000);
  const names = Array.from({ length: upTo - run.nextObject }, (_, i) =>
    locatorObjectName(host.prefix(), run.id, run.nextObject + i),
  );
  host.storage.check();
  if (names.length > 0) await bucket.delete(names);
  host.storage.transactionSync(() => {
    if (upTo < count) updateRun(host.sql, run.id, { nextObject: upTo });
    else host.sql.run("DELETE FROM locator_runs WHERE id = ? AND state = 'retired'", run.id);
  });
  return { did: "locator", r2Operations: names.length > 0 ? 1 : 0 };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

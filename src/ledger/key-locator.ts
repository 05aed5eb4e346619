import {
  LOCATOR_BUCKETS_PER_OBJECT,
  LOCATOR_KEYS_PER_BUCKET,
  LOCATOR_MATCH_BITS,
  LOCATOR_MATCH_BITS_LARGEST,
  LOCATOR_MAX_BUCKET_BITS,
} from "../domain/limits.ts";
import { encodeGolombSet, golombSetContains } from "../lib/golomb-set.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The locator: which period decided an archived key that carries no
 * trustworthy time (period-archive.ts sorts them out), in about 10 bits of
 * the object's storage a key whatever the number of periods, and at most one
 * R2 read to name the period.
 *
 * A key's 64-bit hash (lib/hash64.ts) is all it keeps. The hashes live in
 * runs, as in a log-structured merge tree: a closed period's untimed keys
 * are first staged here whole (`filter_staging`, found exactly), then built
 * into a run of their own; the two smallest runs are merged while the larger
 * holds under LOCATOR_MERGE_RATIO times the smaller's keys, so runs stay few
 * (each at least that many times the next) and a lookup reads one bucket row
 * of each.
 *
 * A run splits its hashes into 2^bucketBits buckets by their high bits, at
 * most about LOCATOR_KEYS_PER_BUCKET each. In the object a bucket is a
 * Golomb-coded set of its hashes' low bits, cut so that a key never archived
 * matches it with probability about 2^-LOCATOR_MATCH_BITS (valueRangeFor). In R2, every
 * LOCATOR_BUCKETS_PER_OBJECT buckets are one object listing each whole hash
 * with its period: a match costs one read there, and names the period whose
 * keys object to read.
 */

export type RunSource =
  | { readonly kind: "staging"; readonly period: number }
  | { readonly kind: "merge"; readonly larger: number; readonly smaller: number };

export interface RunRow {
  readonly id: number;
  /**
   * building: being written (a merge is read where its objects are built, runsFor); live: read;
   * retired: merged into another run, its objects being deleted.
   */
  readonly state: "building" | "live" | "retired";
  readonly keys: number;
  readonly bucketBits: number;
  /** Values are cut to [0, valueRange): valueRangeFor. */
  readonly valueRange: number;
  readonly source: RunSource;
  /** The next of its objects to build (building) or delete (retired). */
  readonly nextObject: number;
  /** Entries written to its objects so far: at the end, exactly `keys`. */
  readonly written: number;
  /** Whether its staged hashes are still in `filter_staging` (a run built from staging, until they are deleted). */
  readonly staged: boolean;
}

type Row = {
  id: number;
  state: string;
  keys: number;
  bucket_bits: number;
  value_range: number;
  source: string;
  next_object: number;
  written: number;
  staged: number;
};

const COLUMNS = "id, state, keys, bucket_bits, value_range, source, next_object, written, staged";

function toRunRow(row: Row): RunRow {
  if (row.state !== "building" && row.state !== "live" && row.state !== "retired") {
    throw new Error(`invariant: locator run ${row.id} is ${row.state}`);
  }
  return {
    id: row.id,
    state: row.state,
    keys: row.keys,
    bucketBits: row.bucket_bits,
    valueRange: row.value_range,
    source: JSON.parse(row.source) as RunSource,
    nextObject: row.next_object,
    written: row.written,
    staged: row.staged === 1,
  };
}

export type Hash = readonly [high: number, low: number];

/** Bucket bits for a run of `keys` hashes: about LOCATOR_KEYS_PER_BUCKET a bucket, never more. */
export function bucketBitsFor(keys: number): number {
  let bits = 0;
  while (keys > LOCATOR_KEYS_PER_BUCKET * 2 ** bits) bits += 1;
  if (bits > LOCATOR_MAX_BUCKET_BITS) throw new Error(`invariant: a locator run of ${keys} keys is too large`);
  return bits;
}

/**
 * The range a bucket's values are cut to: its average keys times
 * 2^LOCATOR_MATCH_BITS_LARGEST for the run that holds most of the keys,
 * 2^LOCATOR_MATCH_BITS for any other, so a key it does not hold matches with
 * probability about 2^-those bits whatever the run's size (a power-of-two
 * range would waste up to a bit a key). The largest run is most of the
 * bytes, so it takes the fewer bits; the others, an eighth of it or less,
 * match less often for little. All 2^32 for a run of one bucket, which is
 * small (a period's few untimed keys, such as an account's funding) and
 * costs a few bytes more so that it almost never matches.
 */
export function valueRangeFor(keys: number, bucketBits: number, largest: boolean): number {
  if (bucketBits === 0) return 2 ** 32;
  const bits = largest ? LOCATOR_MATCH_BITS_LARGEST : LOCATOR_MATCH_BITS;
  return Math.min(2 ** 32, Math.ceil(keys / 2 ** bucketBits) * 2 ** bits);
}

/** The bits a Golomb-coded set needs for values below `range`. */
export function rangeBitsOf(range: number): number {
  return range <= 2 ? 1 : Math.ceil(Math.log2(range));
}

export function bucketOf(hash: Hash, bucketBits: number): number {
  return bucketBits === 0 ? 0 : hash[0] >>> (32 - bucketBits);
}

/** floor(low half x range / 2^32), exactly: the products are split so every step stays below 2^53. */
export function valueOf(hash: Hash, range: number): number {
  const low = hash[1];
  const upper = Math.floor(low / 65_536) * range;
  const upperQuotient = Math.floor(upper / 65_536);
  const upperRest = upper - upperQuotient * 65_536;
  return upperQuotient + Math.floor((upperRest * 65_536 + (low % 65_536) * range) / 2 ** 32);
}

/** How many R2 objects a run's buckets make. */
export function objectCountOf(bucketBits: number): number {
  return Math.ceil(2 ** bucketBits / LOCATOR_BUCKETS_PER_OBJECT);
}

/** The range of high hash halves, [from, to), that object `n` of a run with `bucketBits` covers. */
export function objectRange(bucketBits: number, n: number): { from: number; to: number } {
  const span = LOCATOR_BUCKETS_PER_OBJECT * 2 ** (32 - bucketBits);
  return { from: Math.min(2 ** 32, n * span), to: Math.min(2 ** 32, (n + 1) * span) };
}

/** The object of a run with `bucketBits` that holds `hash`. */
export function objectOf(hash: Hash, bucketBits: number): number {
  return Math.floor(bucketOf(hash, bucketBits) / LOCATOR_BUCKETS_PER_OBJECT);
}

/** Deterministic, so a rebuilt object has the same name and bytes. */
export function locatorObjectName(prefix: string, runId: number, n: number): string {
  return `${prefix}/locator/${String(runId).padStart(10, "0")}/${String(n).padStart(6, "0")}.bin`;
}

export function allRuns(sql: CountedSql): RunRow[] {
  return sql.rows<Row>(`SELECT ${COLUMNS} FROM locator_runs ORDER BY id`).map(toRunRow);
}

export function insertRun(sql: CountedSql, run: Omit<RunRow, "nextObject" | "written">): void {
  sql.run(
    `INSERT INTO locator_runs (id, state, keys, bucket_bits, value_range, source, next_object, written, staged)
     VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)`,
    run.id,
    run.state,
    run.keys,
    run.bucketBits,
    run.valueRange,
    JSON.stringify(run.source),
    run.staged ? 1 : 0,
  );
}

export function updateRun(
  sql: CountedSql,
  id: number,
  change: { state?: RunRow["state"]; nextObject?: number; written?: number; staged?: boolean },
): void {
  const written = sql.write(
    `UPDATE locator_runs SET state = COALESCE(?, state), next_object = COALESCE(?, next_object),
       written = COALESCE(?, written), staged = COALESCE(?, staged) WHERE id = ?`,
    change.state ?? null,
    change.nextObject ?? null,
    change.written ?? null,
    change.staged === undefined ? null : change.staged ? 1 : 0,
    id,
  );
  if (written !== 1) throw new Error(`invariant: locator run ${id} was not updated`);
}

/** Stages hashes of a period's untimed keys; a repeated hash of the same period is kept once. */
export function stageHashes(sql: CountedSql, periodId: number, hashes: readonly Hash[]): void {
  for (const [high, low] of hashes) {
    sql.run(
      "INSERT INTO filter_staging (period_id, high, low) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      periodId,
      high,
      low,
    );
  }
}

export function stagedCount(sql: CountedSql, periodId: number): number {
  return sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM filter_staging WHERE period_id = ?", periodId)?.n ?? 0;
}

/** The periods whose staged hashes include `hash` exactly. */
export function stagedPeriods(sql: CountedSql, hash: Hash): number[] {
  return sql
    .rows<{ period_id: number }>("SELECT period_id FROM filter_staging WHERE high = ? AND low = ?", hash[0], hash[1])
    .map((row) => row.period_id);
}

/** A bucket's row id: its run's id x 2^LOCATOR_MAX_BUCKET_BITS plus its bucket, so a run's rows are one range. */
export function bucketRowId(runId: number, bucket: number): number {
  return runId * 2 ** LOCATOR_MAX_BUCKET_BITS + bucket;
}

const queries = new Map<number, string>();

/** One statement reading a key's bucket in each of `runs` runs. */
function bucketsQuery(runs: number): string {
  let query = queries.get(runs);
  if (query === undefined) {
    query = `SELECT id, data FROM locator_buckets WHERE id IN (${Array.from({ length: runs }, () => "?").join(", ")})`;
    queries.set(runs, query);
  }
  return query;
}

/**
 * The runs a lookup of `hash` reads: every live run, except where a merge
 * has already built the object holding `hash` (its inputs' buckets there may
 * be gone), where it reads the merge instead. `runs` are those not retired.
 */
export function runsFor(runs: readonly RunRow[], hash: Hash): RunRow[] {
  const out: RunRow[] = [];
  const replaced = new Set<number>();
  for (const run of runs) {
    if (run.state === "building" && run.source.kind === "merge" && objectOf(hash, run.bucketBits) < run.nextObject) {
      out.push(run);
      replaced.add(run.source.larger);
      replaced.add(run.source.smaller);
    }
  }
  for (const run of runs) if (run.state === "live" && !replaced.has(run.id)) out.push(run);
  return out;
}

/** Those of `runs` whose bucket matches `hash`, newest first (a false match among them is read in R2 and found absent). */
export function matchingRuns(sql: CountedSql, runs: readonly RunRow[], hash: Hash): RunRow[] {
  if (runs.length === 0) return [];
  const bindings = runs.map((run) => bucketRowId(run.id, bucketOf(hash, run.bucketBits)));
  const byId = new Map(runs.map((run) => [run.id, run]));
  const out: RunRow[] = [];
  for (const row of sql.rows<{ id: number; data: ArrayBuffer }>(bucketsQuery(runs.length), ...bindings)) {
    const run = byId.get(Math.floor(row.id / 2 ** LOCATOR_MAX_BUCKET_BITS)) as RunRow;
    if (bucketHolds(new Uint8Array(row.data), valueOf(hash, run.valueRange))) out.push(run);
  }
  return out.sort((a, b) => b.id - a.id);
}

/** A bucket's row: a Golomb-coded set of its values, at most about 700 bytes (searched from its start, about 10 us). */
export function encodeBucket(values: readonly number[], range: number): Uint8Array {
  return encodeGolombSet(values, rangeBitsOf(range));
}

export function bucketHolds(data: Uint8Array, value: number): boolean {
  return golombSetContains(data, value);
}

/**
 * A locator object: "OLK1", the SHA-256 of the rest, then per hash its high
 * half, low half and period, each 4 bytes big-endian, sorted. The digest
 * makes it check itself wherever it is read: a merge never copies a damaged
 * entry into a new run, and a lookup never trusts one.
 */
const MAGIC = [0x4f, 0x4c, 0x4b, 0x31];
const DIGEST_BYTES = 32;
const HEADER_BYTES = MAGIC.length + DIGEST_BYTES;
const ENTRY_BYTES = 12;

export interface LocatorEntry {
  readonly high: number;
  readonly low: number;
  readonly period: number;
}

export function compareEntries(a: LocatorEntry, b: LocatorEntry): number {
  return a.high - b.high || a.low - b.low || a.period - b.period;
}

export async function encodeLocatorObject(entries: readonly LocatorEntry[]): Promise<Uint8Array> {
  const out = new Uint8Array(HEADER_BYTES + entries.length * ENTRY_BYTES);
  out.set(MAGIC);
  const view = new DataView(out.buffer);
  let at = HEADER_BYTES;
  let previous: LocatorEntry | null = null;
  for (const entry of entries) {
    if (previous !== null && compareEntries(previous, entry) >= 0) {
      throw new Error("invariant: a locator object's entries are not strictly sorted");
    }
    view.setUint32(at, entry.high);
    view.setUint32(at + 4, entry.low);
    view.setUint32(at + 8, entry.period);
    at += ENTRY_BYTES;
    previous = entry;
  }
  out.set(new Uint8Array(await crypto.subtle.digest("SHA-256", out.subarray(HEADER_BYTES))), MAGIC.length);
  return out;
}

export async function decodeLocatorObject(bytes: Uint8Array, name: string): Promise<LocatorEntry[]> {
  if (
    bytes.length < HEADER_BYTES ||
    (bytes.length - HEADER_BYTES) % ENTRY_BYTES !== 0 ||
    MAGIC.some((byte, i) => bytes[i] !== byte)
  ) {
    throw new Error(`archive: ${name} is not a locator object`);
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.subarray(HEADER_BYTES)));
  if (digest.some((byte, i) => bytes[MAGIC.length + i] !== byte)) {
    throw new Error(`archive: ${name} does not match its digest`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: LocatorEntry[] = [];
  for (let at = HEADER_BYTES; at < bytes.length; at += ENTRY_BYTES) {
    out.push({ high: view.getUint32(at), low: view.getUint32(at + 4), period: view.getUint32(at + 8) });
  }
  return out;
}

/** The periods a locator object lists for `hash`, found by binary search. */
export function periodsIn(entries: readonly LocatorEntry[], hash: Hash): number[] {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const entry = entries[mid] as LocatorEntry;
    if (entry.high < hash[0] || (entry.high === hash[0] && entry.low < hash[1])) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < entries.length; i += 1) {
    const entry = entries[i] as LocatorEntry;
    if (entry.high !== hash[0] || entry.low !== hash[1]) break;
    out.push(entry.period);
  }
  return out;
}

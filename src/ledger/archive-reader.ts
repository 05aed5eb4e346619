import { embeddedTimeMs } from "../domain/key-time.ts";
import { ARCHIVE_CACHE_OBJECTS, KEY_TIME_WINDOW_MS } from "../domain/limits.ts";
import type { EntryView } from "../domain/views.ts";
import { hash64 } from "../lib/hash64.ts";
import { filterCandidates } from "./archive-filter.ts";
import {
  allRuns,
  decodeLocatorObject,
  locatorObjectName,
  matchingRuns,
  objectOf,
  periodsIn,
  runsFor,
  stagedPeriods,
  type RunRow,
} from "./key-locator.ts";
import type { ArchivedKey } from "./period-archive.ts";
import { leftPeriods, objectHolding, seqText, type ObjectRow, type PeriodRow } from "./period-store.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Reads what has left the object for R2: a key's archived decision, an
 * archived entry, a page of archived entries. The periods that left are
 * kept in memory (a few dozen bytes each), so a key never archived costs no
 * read at all when no period has left, and otherwise the filter's one row
 * read (and an R2 read only on its false hit, or when its embedded time
 * falls in a period that left). Every R2 read is counted for the caller's
 * log line.
 */
/** What one request's archive lookups cost: its R2 reads (its log line's `archive_reads`) and the rows they read here. */
export interface ReadTally {
  reads: number;
  rowsRead: number;
}

export function newTally(): ReadTally {
  return { reads: 0, rowsRead: 0 };
}

export class ArchiveReader {
  private readonly sql: CountedSql;
  private readonly bucket: () => R2Bucket | null;
  /** `<tenant>/<account>`: where its objects are named. */
  private readonly prefix: () => string;
  private left: PeriodRow[] | null = null;
  /** The locator's runs not retired, and whether any hashes are staged (key-locator.ts). */
  private runs: { read: RunRow[]; staged: boolean } | null = null;
  /** Recently read objects' text, newest last: a page of entries or a refund rereads the same object. */
  private readonly cache = new Map<string, string>();
  /** Every R2 read this object made (each request counts its own in a ReadTally). */
  reads = 0;

  constructor(sql: CountedSql, bucket: () => R2Bucket | null, prefix: () => string) {
    this.sql = sql;
    this.bucket = bucket;
    this.prefix = prefix;
  }

  /** Called when a period's rows begin to leave the object. */
  refresh(): void {
    this.left = null;
    this.runs = null;
  }

  /** Called when the locator's runs or staged hashes change: the periods that left stay as they are. */
  refreshLocator(): void {
    this.runs = null;
  }

  private periods(): PeriodRow[] {
    this.left ??= leftPeriods(this.sql);
    return this.left;
  }

  /** The seq up to which entries may be only in R2 (0 when none has left). */
  leftThroughSeq(): number {
    return this.periods().at(-1)?.lastSeq ?? 0;
  }

  /**
   * The archived decision of `key`, or null if it was never archived. Looks
   * in the periods its embedded time could be in, in those the filter of
   * schema 7 or the locator's staged hashes name, then in those its runs
   * name; a timed key is in at most the period of its decision and its
   * neighbour across the time window.
   */
  async findKey(key: string, tally: ReadTally): Promise<ArchivedKey | null> {
    const left = this.counted(tally, () => this.periods());
    if (left.length === 0) return null;
    const candidates = new Set<number>();
    const t = embeddedTimeMs(key);
    if (t !== null) {
      for (const period of left) {
        if (
          period.firstDecidedMs !== null &&
          period.lastDecidedMs !== null &&
          period.firstDecidedMs <= t + KEY_TIME_WINDOW_MS &&
          period.lastDecidedMs >= t
        ) {
          candidates.add(period.id);
        }
      }
    }
    const generations = Math.max(0, ...left.filter((p) => p.filterKeys > 0).map((p) => p.filterGeneration + 1));
    for (const id of this.counted(tally, () => filterCandidates(this.sql, key, generations))) candidates.add(id);
    const runs = this.counted(tally, () => this.locator());
    const hash = runs.read.length > 0 || runs.staged ? hash64(key) : null;
    if (hash !== null && runs.staged) {
      for (const id of this.counted(tally, () => stagedPeriods(this.sql, hash))) candidates.add(id);
    }
    const found = await this.inPeriods(key, [...candidates], tally);
    if (found !== null || hash === null) return found;
    // The locator's runs last, newest first, each read in R2 only if its bucket matches: a key's
    // own run costs one read, and a false match in another run one more.
    for (const run of this.counted(tally, () => matchingRuns(this.sql, runsFor(runs.read, hash), hash))) {
      const name = locatorObjectName(this.prefix(), run.id, objectOf(hash, run.bucketBits));
      const bytes = await this.readBytes(name, tally);
      if (bytes === null) {
        // A merge retired this run, and its objects were deleted, while this lookup waited: look again.
        this.refreshLocator();
        if (this.locator().read.some((r) => r.id === run.id)) {
          throw new Error(`archive: ${name} is missing from the bucket`);
        }
        return this.findKey(key, tally);
      }
      const inRun = await this.inPeriods(
        key,
        periodsIn(await decodeLocatorObject(bytes, name), hash).filter((id) => !candidates.has(id)),
        tally,
      );
      if (inRun !== null) return inRun;
    }
    return null;
  }

  /** The key's line in the keys object of the first of `periods` (that left the object) holding it. */
  private async inPeriods(key: string, periods: readonly number[], tally: ReadTally): Promise<ArchivedKey | null> {
    if (periods.length === 0) return null;
    const left = this.periods();
    const hasLeft = (id: number) => left.some((period) => period.id === id);
    for (const id of periods.filter(hasLeft).sort((a, b) => a - b)) {
      const object = this.counted(tally, () => objectHolding(this.sql, id, "keys", key));
      if (object === null) continue;
      const text = await this.read(object, tally);
      const found = lineStartingWith(text, `{"key":${JSON.stringify(key)},`);
      if (found !== null) return JSON.parse(found) as ArchivedKey;
    }
    return null;
  }

  private locator(): { read: RunRow[]; staged: boolean } {
    if (this.runs === null) {
      const runs = allRuns(this.sql);
      this.runs = { read: runs.filter((run) => run.state !== "retired"), staged: runs.some((run) => run.staged) };
    }
    return this.runs;
  }

  /** The archived entry `seq` as the entries API shows it, or null if it has not left the object. */
  async entry(seq: number, tally: ReadTally): Promise<EntryView | null> {
    const period = this.periods().find((p) => p.firstSeq <= seq && seq <= p.lastSeq);
    if (period === undefined) return null;
    const object = this.counted(tally, () => objectHolding(this.sql, period.id, "entries", seqText(seq)));
    if (object === null) throw new Error(`invariant: archived period ${period.id} has no object holding entry ${seq}`);
    const text = await this.read(object, tally);
    const marker = `,"seq":${seq},"type":`;
    const at = text.indexOf(marker);
    if (at < 0) throw new Error(`invariant: ${object.name} does not hold entry ${seq}`);
    const start = text.lastIndexOf("\n", at) + 1;
    return JSON.parse(text.slice(start, text.indexOf("\n", at))) as EntryView;
  }

  /** Archived entries after `afterSeq`, oldest first, at most `limit`, none past the last period that left. */
  async entriesAfter(afterSeq: number, limit: number, tally: ReadTally): Promise<EntryView[]> {
    const out: EntryView[] = [];
    let seq = afterSeq + 1;
    while (out.length < limit && seq <= this.leftThroughSeq()) {
      const period = this.periods().find((p) => p.firstSeq <= seq && seq <= p.lastSeq);
      if (period === undefined) break;
      const object = this.counted(tally, () => objectHolding(this.sql, period.id, "entries", seqText(seq)));
      if (object === null)
        throw new Error(`invariant: archived period ${period.id} has no object holding entry ${seq}`);
      const text = await this.read(object, tally);
      for (const line of text.split("\n")) {
        if (line === "" || out.length >= limit) continue;
        const view = JSON.parse(line) as EntryView;
        if (view.seq >= seq) out.push(view);
      }
      seq = (out.at(-1)?.seq ?? seq) + 1;
      if (out.length === 0) break;
    }
    return out;
  }

  private async read(object: ObjectRow, tally: ReadTally): Promise<string> {
    const cached = this.cache.get(object.name);
    if (cached !== undefined) {
      this.cache.delete(object.name);
      this.cache.set(object.name, cached);
      return cached;
    }
    const bytes = await this.readBytes(object.name, tally);
    if (bytes === null) throw new Error(`archive: ${object.name} is missing from the bucket`);
    const text = decoder.decode(bytes);
    this.cache.set(object.name, text);
    if (this.cache.size > ARCHIVE_CACHE_OBJECTS) this.cache.delete(this.cache.keys().next().value as string);
    return text;
  }

  /** Runs a synchronous read of the object's SQLite, counting its rows into the request's tally. */
  private counted<T>(tally: ReadTally, read: () => T): T {
    const before = this.sql.work().rowsRead;
    const out = read();
    tally.rowsRead += this.sql.work().rowsRead - before;
    return out;
  }

  /** An object's bytes from R2 (null if absent), counted as one read. */
  private async readBytes(name: string, tally: ReadTally): Promise<Uint8Array | null> {
    const bucket = this.bucket();
    if (bucket === null) throw new Error(`archive: the bucket holding ${name} is not bound`);
    const stored = await bucket.get(name);
    this.reads += 1;
    tally.reads += 1;
    return stored === null ? null : new Uint8Array(await stored.arrayBuffer());
  }
}

const decoder = new TextDecoder();

/** The whole line of `text` that starts with `prefix`, or null. */
function lineStartingWith(text: string, prefix: string): string | null {
  const at = text.startsWith(prefix) ? 0 : text.indexOf(`\n${prefix}`);
  if (at < 0) return null;
  const start = at === 0 && text.startsWith(prefix) ? 0 : at + 1;
  return text.slice(start, text.indexOf("\n", start));
}

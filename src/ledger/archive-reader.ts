import { embeddedTimeMs } from "../domain/key-time.ts";
import { ARCHIVE_CACHE_OBJECTS, KEY_TIME_WINDOW_MS } from "../domain/limits.ts";
import type { EntryView } from "../domain/views.ts";
import { filterCandidates } from "./archive-filter.ts";
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
export class ArchiveReader {
  private readonly sql: CountedSql;
  private readonly bucket: () => R2Bucket | null;
  private left: PeriodRow[] | null = null;
  /** Recently read objects' text, newest last: a page of entries or a refund rereads the same object. */
  private readonly cache = new Map<string, string>();
  reads = 0;

  constructor(sql: CountedSql, bucket: () => R2Bucket | null) {
    this.sql = sql;
    this.bucket = bucket;
  }

  /** Called when a period's rows begin to leave the object. */
  refresh(): void {
    this.left = null;
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
   * in the periods its embedded time could be in, and in those the filter
   * names; a timed key is in at most the period of its decision and its
   * neighbour across the time window.
   */
  async findKey(key: string): Promise<ArchivedKey | null> {
    const left = this.periods();
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
    const ids = new Set(left.map((period) => period.id));
    for (const id of filterCandidates(this.sql, key, generations)) if (ids.has(id)) candidates.add(id);
    for (const id of [...candidates].sort((a, b) => a - b)) {
      const object = objectHolding(this.sql, id, "keys", key);
      if (object === null) continue;
      const text = await this.read(object);
      const found = lineStartingWith(text, `{"key":${JSON.stringify(key)},`);
      if (found !== null) return JSON.parse(found) as ArchivedKey;
    }
    return null;
  }

  /** The archived entry `seq` as the entries API shows it, or null if it has not left the object. */
  async entry(seq: number): Promise<EntryView | null> {
    const period = this.periods().find((p) => p.firstSeq <= seq && seq <= p.lastSeq);
    if (period === undefined) return null;
    const object = objectHolding(this.sql, period.id, "entries", seqText(seq));
    if (object === null) throw new Error(`invariant: archived period ${period.id} has no object holding entry ${seq}`);
    const text = await this.read(object);
    const marker = `,"seq":${seq},"type":`;
    const at = text.indexOf(marker);
    if (at < 0) throw new Error(`invariant: ${object.name} does not hold entry ${seq}`);
    const start = text.lastIndexOf("\n", at) + 1;
    return JSON.parse(text.slice(start, text.indexOf("\n", at))) as EntryView;
  }

  /** Archived entries after `afterSeq`, oldest first, at most `limit`, none past the last period that left. */
  async entriesAfter(afterSeq: number, limit: number): Promise<EntryView[]> {
    const out: EntryView[] = [];
    let seq = afterSeq + 1;
    while (out.length < limit && seq <= this.leftThroughSeq()) {
      const period = this.periods().find((p) => p.firstSeq <= seq && seq <= p.lastSeq);
      if (period === undefined) break;
      const object = objectHolding(this.sql, period.id, "entries", seqText(seq));
      if (object === null)
        throw new Error(`invariant: archived period ${period.id} has no object holding entry ${seq}`);
      const text = await this.read(object);
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

  private async read(object: ObjectRow): Promise<string> {
    const cached = this.cache.get(object.name);
    if (cached !== undefined) {
      this.cache.delete(object.name);
      this.cache.set(object.name, cached);
      return cached;
    }
    const bucket = this.bucket();
    if (bucket === null) throw new Error(`archive: the bucket holding ${object.name} is not bound`);
    const stored = await bucket.get(object.name);
    this.reads += 1;
    if (stored === null) throw new Error(`archive: ${object.name} is missing from the bucket`);
    const text = await stored.text();
    this.cache.set(object.name, text);
    if (this.cache.size > ARCHIVE_CACHE_OBJECTS) this.cache.delete(this.cache.keys().next().value as string);
    return text;
  }
}

/** The whole line of `text` that starts with `prefix`, or null. */
function lineStartingWith(text: string, prefix: string): string | null {
  const at = text.startsWith(prefix) ? 0 : text.indexOf(`\n${prefix}`);
  if (at < 0) return null;
  const start = at === 0 && text.startsWith(prefix) ? 0 : at + 1;
  return text.slice(start, text.indexOf("\n", start));
}

import { embeddedTimeMs } from "../domain/key-time.ts";
import {
  ARCHIVE_BYTES_PER_SLICE,
  ARCHIVE_KEYS_WALKED_PER_SLICE,
  ARCHIVE_OBJECT_MAX_BYTES,
  ARCHIVE_ROWS_PER_OBJECT,
  ARCHIVE_ROWS_PER_SLICE,
  ARCHIVE_SLICED_FROM_ROWS,
  FILTER_KEYS_PER_STEP,
  KEY_TIME_WINDOW_MS,
  PRUNE_ROWS_PER_STEP,
} from "../domain/limits.ts";
import { bytesToHex } from "../lib/hex.ts";
import { utf8Length } from "../lib/text.ts";
import { logError } from "../observability/log.ts";
import { hash64 } from "../lib/hash64.ts";
import type { RunStorage } from "./alarm-schedule.ts";
import { stageHashes, type Hash } from "./key-locator.ts";
import { locatorStep, startStagedRun } from "./locator-job.ts";
import { readEventCursor } from "./events.ts";
import { entriesAfter, storedEntryId } from "./ledger-store.ts";
import {
  findPeriod,
  insertObject,
  markArchived,
  objectsOf,
  oldestClosing,
  oldestUnpruned,
  seqText,
  setKeyFacts,
  setProgress,
  setPruned,
  type KeyFacts,
  type ObjectRow,
  type PeriodRow,
} from "./period-store.ts";
import { entryView, timestamp } from "./row-views.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The archive job, one bounded step per alarm run: a closed period's
 * entries, then its keys' decisions, go to R2 as immutable objects of at most
 * ARCHIVE_ROWS_PER_OBJECT rows and ARCHIVE_OBJECT_MAX_BYTES bytes, each
 * verified by reading it back before its progress is recorded; then its
 * untimed keys are staged for the locator; then every object is read back
 * once more and the period sealed with its chained digest. Between periods
 * the locator's own job (locator-job.ts) runs. Only a sealed period whose
 * keys have all expired (and whose entries were all published as events,
 * where events are bound) is deleted from the object, in bounded steps.
 * Each step is repeatable: a crash anywhere leaves every entry in the object,
 * in R2, or in both, and a repeated step writes the same bytes.
 *
 * The entries, keys and seal steps do their work in slices (ARCHIVE_ROWS_PER_SLICE
 * rows, ARCHIVE_KEYS_WALKED_PER_SLICE keys walked, ARCHIVE_BYTES_PER_SLICE bytes
 * hashed) and yield to the object's queued requests between them, so a charge
 * that arrives during a step waits for one slice, not for the step. A closed
 * period's rows never change, so what a step read before a yield still holds
 * after it; what it writes is recorded only once the whole object is verified.
 */

export interface ArchiveHost {
  /**
   * The alarm run's writes: each goes through only while no later run has taken over, which a step
   * checks after every yield and before every R2 write too, so a run that resumes late records nothing.
   */
  readonly storage: RunStorage;
  readonly sql: CountedSql;
  /** The bucket this account archives into; null while it is not bound (the job waits, logged). */
  bucket(): R2Bucket | null;
  /** `<tenant>/<account>`: where its objects are named. */
  prefix(): string;
  currency(): string;
  /** Whether an events queue is bound: then rows leave only once published. */
  publishesEvents(): boolean;
  /** Told that a period's rows began to leave the object (period-store.ts leftPeriods changed). */
  periodsLeft(): void;
  /** Told that the locator's runs or staged hashes changed (key-locator.ts). */
  locatorChanged(): void;
  /** A number one more at each step: closing periods take every other step. */
  turn(): number;
}

/** What a step did, and when the job next has something to do (null: nothing until the next close). */
export interface ArchiveStep {
  readonly did: "entries" | "keys" | "filter" | "seal" | "locator" | "prune" | "waiting" | "none" | "failed";
  readonly period: number | null;
  readonly r2Operations: number;
  readonly nextDueMs: number | null;
}

const encoder = new TextEncoder();

/** How long rows wait for the outbox before the prune looks again. */
const PRUNE_EVENTS_WAIT_MS = 60_000;

/**
 * One step: the oldest closing period's next step, or a due prune step, or
 * the locator's next step. While periods are closing, every other step
 * (`host.turn()` odd) goes to a due prune or the locator first, so neither
 * waits for a stream of closes to end (rows to leave, hashes staged, runs
 * unmerged would pile up).
 */
export async function archiveStep(host: ArchiveHost, nowMs: number): Promise<ArchiveStep> {
  const closing = oldestClosing(host.sql);
  const bucket = host.bucket();
  if (closing !== null && bucket === null) {
    logError("archiveUnbound", { period: closing.id, fix: "bind this tenant's archive bucket (docs/operations.md)" });
    return { did: "waiting", period: closing.id, r2Operations: 0, nextDueMs: null };
  }
  if (closing === null || host.turn() % 2 === 1) {
    // Deleting rows comes first: it is what frees the object's storage.
    const pruned = prune(host, nowMs);
    if (pruned.did === "prune") return pruned;
    const located = bucket === null ? null : await locatorStep(host, bucket);
    if (located !== null) return { ...located, period: null, nextDueMs: 0 };
    if (closing === null) return pruned;
  }
  return archiveClosing(host, bucket as R2Bucket, closing);
}

async function archiveClosing(host: ArchiveHost, bucket: R2Bucket, period: PeriodRow): Promise<ArchiveStep> {
  const progress = period.progress;
  const pause = pauseFor(host, period);
  switch (progress.phase) {
    case "entries": {
      const currency = host.currency();
      const text = new ObjectText();
      let after = progress.afterSeq;
      for (let slice = 0; !text.full && after < period.lastSeq; slice += 1) {
        if (slice > 0) await pause();
        const rows = entriesAfter(host.sql, after, Math.min(ARCHIVE_ROWS_PER_SLICE, text.room()));
        if (slice === 0 && rows[0]?.seq !== after + 1) {
          throw new Error(`invariant: period ${period.id} has no entry after ${after} in the object`);
        }
        if (rows.length === 0) break;
        for (const row of rows) {
          if (row.seq > period.lastSeq || !text.add(JSON.stringify(entryView(row, currency)))) break;
          after = row.seq;
        }
        await text.endSlice();
      }
      const n = objectCount(host.sql, period.id, "entries");
      const object = await writeVerified(bucket, host.storage, pause, {
        name: objectName(host.prefix(), period.id, "entries", n),
        kind: "entries",
        n,
        first: seqText(progress.afterSeq + 1),
        text,
      });
      host.storage.transactionSync(() => {
        insertObject(host.sql, period.id, object);
        setProgress(
          host.sql,
          period.id,
          after === period.lastSeq ? { phase: "keys", afterKey: null } : { phase: "entries", afterSeq: after },
        );
      });
      return { did: "entries", period: period.id, r2Operations: 2, nextDueMs: 0 };
    }
    case "keys": {
      const text = new ObjectText();
      let first: string | null = null;
      let last: string | null = null;
      // The period's keys in key order: the key index is walked a window at a time from where the last object ended.
      for (let walked = progress.afterKey ?? "", slice = 0; !text.full; slice += 1) {
        if (slice > 0) await pause();
        const windowEnd = keyWindowEnd(host.sql, walked, ARCHIVE_KEYS_WALKED_PER_SLICE);
        if (windowEnd === null) break;
        for (const row of periodKeysIn(host.sql, period, walked, windowEnd, text.room())) {
          if (!text.add(keyLine(row))) break;
          first ??= row.key;
          last = row.key;
        }
        await text.endSlice();
        walked = windowEnd;
      }
      if (first === null || last === null) {
        // A period closed with no key of its own (its entries were all decided before its first pos).
        host.storage.transactionSync(() =>
          setProgress(host.sql, period.id, { phase: "filter", afterPos: period.firstPos - 1 }),
        );
        return { did: "keys", period: period.id, r2Operations: 0, nextDueMs: 0 };
      }
      const n = objectCount(host.sql, period.id, "keys");
      const object = await writeVerified(bucket, host.storage, pause, {
        name: objectName(host.prefix(), period.id, "keys", n),
        kind: "keys",
        n,
        first,
        text,
      });
      const done = !text.full;
      host.storage.transactionSync(() => {
        insertObject(host.sql, period.id, object);
        setProgress(
          host.sql,
          period.id,
          done ? { phase: "filter", afterPos: period.firstPos - 1 } : { phase: "keys", afterKey: last },
        );
      });
      return { did: "keys", period: period.id, r2Operations: 2, nextDueMs: 0 };
    }
    case "filter": {
      // FILTER_KEYS_PER_STEP keys a step, ARCHIVE_KEYS_WALKED_PER_SLICE a slice, each slice in its own transaction.
      let at = { afterPos: progress.afterPos, facts: progress.facts };
      for (let sorted = 0; sorted < FILTER_KEYS_PER_STEP; sorted += ARCHIVE_KEYS_WALKED_PER_SLICE) {
        if (sorted > 0) await pause();
        const next = host.storage.transactionSync(() => filterSlice(host.sql, period, at.afterPos, at.facts));
        if (next === null) break;
        at = next;
      }
      return { did: "filter", period: period.id, r2Operations: 0, nextDueMs: 0 };
    }
    case "seal":
      return seal(host, bucket, period);
  }
}

/**
 * Reads every object back, in order: each must still have the digest it was
 * written with, and the entries' bytes give the period's chained digest. An
 * object that does not match is written again from the object's rows.
 */
async function seal(host: ArchiveHost, bucket: R2Bucket, period: PeriodRow): Promise<ArchiveStep> {
  const previous = period.id === 1 ? "" : (findPeriod(host.sql, period.id - 1)?.sha256 ?? null);
  if (previous === null) throw new Error(`invariant: period ${period.id} is sealed before the one it chains to`);
  const objects = objectsOf(host.sql, period.id);
  const chain = new crypto.DigestStream("SHA-256");
  const writer = chain.getWriter();
  await writer.write(encoder.encode(`${previous}\n`));
  let reads = 0;
  const pause = pauseFor(host, period);
  for (const object of objects) {
    const stored = await bucket.get(object.name);
    reads += 1;
    // An entries object's bytes go into the chain as they are read; a mismatch abandons the chain.
    const read = stored === null ? null : await readInSlices(stored, pause, object.kind === "entries" ? writer : null);
    if (read === null || read.bytes !== object.bytes || read.sha256 !== object.sha256) {
      logError("archiveObjectMismatch", { period: period.id, object: object.name, found: read !== null });
      // The digest is abandoned with the stream: its promise rejects, and nothing waits for it.
      chain.digest.catch(() => undefined);
      await writer.abort();
      host.storage.transactionSync(() => rewind(host.sql, period, object));
      return { did: "seal", period: period.id, r2Operations: reads, nextDueMs: 0 };
    }
  }
  await writer.close();
  const sha256 = bytesToHex(new Uint8Array(await chain.digest));
  host.storage.transactionSync(() => markArchived(host.sql, period.id, sha256, previous));
  return { did: "seal", period: period.id, r2Operations: reads, nextDueMs: 0 };
}

/** Drops the objects from `bad` on, of its kind and after, and sets the period's progress back to write them again. */
function rewind(sql: CountedSql, period: PeriodRow, bad: ObjectRow): void {
  sql.run(
    "DELETE FROM period_objects WHERE period_id = ? AND (kind = ? AND n >= ? OR ? = 'entries' AND kind = 'keys')",
    period.id,
    bad.kind,
    bad.n,
    bad.kind,
  );
  setProgress(
    sql,
    period.id,
    bad.kind === "entries"
      ? { phase: "entries", afterSeq: Number(bad.first) - 1 }
      : { phase: "keys", afterKey: bad.n === 0 ? null : previousKey(sql, period, bad.first) },
  );
}

/** The last key before `first` in the period (where the keys object that starts at `first` resumes from). */
function previousKey(sql: CountedSql, period: PeriodRow, first: string): string | null {
  return (
    sql.first<{ key: string }>(
      "SELECT key FROM keys WHERE pos BETWEEN ? AND ? AND key < ? ORDER BY key DESC LIMIT 1",
      period.firstPos,
      period.lastPos,
      first,
    )?.key ?? null
  );
}

/**
 * One slice of a filter step, in one transaction: the next ARCHIVE_KEYS_WALKED_PER_SLICE keys of
 * the period are sorted into timed ones (the embedded time is at most
 * KEY_TIME_WINDOW_MS before the decision, and not after), found later by the
 * period's decision times, and the rest, whose hashes are staged for the
 * locator (key-locator.ts), where a lookup finds them at once. The decision
 * times and last expiry carry over in the progress, which the slice records and
 * returns; the last slice records them and starts the locator run of the
 * staged hashes (null: the period goes on to its seal).
 */
function filterSlice(
  sql: CountedSql,
  period: PeriodRow,
  afterPos: number,
  carried: KeyFacts | undefined,
): { afterPos: number; facts: KeyFacts } | null {
  let { firstDecidedMs, lastDecidedMs, hotUntilMs } = carried ?? {
    firstDecidedMs: null,
    lastDecidedMs: null,
    hotUntilMs: null,
  };
  const rows = sql.rows<{ pos: number; key: string; decided_ms: number; expires_ms: number }>(
    "SELECT pos, key, decided_ms, expires_ms FROM keys WHERE pos > ? AND pos <= ? ORDER BY pos LIMIT ?",
    afterPos,
    period.lastPos,
    ARCHIVE_KEYS_WALKED_PER_SLICE,
  );
  const untimed: Hash[] = [];
  for (const row of rows) {
    if (!keyIsTimed(row.key, row.decided_ms)) {
      untimed.push(hash64(row.key));
    } else {
      firstDecidedMs = Math.min(firstDecidedMs ?? row.decided_ms, row.decided_ms);
      lastDecidedMs = Math.max(lastDecidedMs ?? row.decided_ms, row.decided_ms);
    }
    hotUntilMs = Math.max(hotUntilMs ?? row.expires_ms, row.expires_ms);
  }
  stageHashes(sql, period.id, untimed);
  const facts = { firstDecidedMs, lastDecidedMs, hotUntilMs };
  const last = rows.at(-1)?.pos ?? period.lastPos;
  if (rows.length === ARCHIVE_KEYS_WALKED_PER_SLICE && last < period.lastPos) {
    setProgress(sql, period.id, { phase: "filter", afterPos: last, facts });
    return { afterPos: last, facts };
  }
  setKeyFacts(sql, period.id, facts);
  startStagedRun(sql, period.id);
  setProgress(sql, period.id, { phase: "seal" });
  return null;
}

/** Whether a key is found by time: its embedded time is at most KEY_TIME_WINDOW_MS before its decision, and not after. */
export function keyIsTimed(key: string, decidedMs: number): boolean {
  const t = embeddedTimeMs(key);
  return t !== null && t <= decidedMs && decidedMs - t <= KEY_TIME_WINDOW_MS;
}

/**
 * Deletes one bounded step of the oldest sealed period's rows once no replay
 * needs them (its last key has expired) and, where events are bound, all its
 * entries were published. Entries stored before schema 7 stay: they are
 * found by id through their own index, and their count is fixed.
 */
function prune(host: ArchiveHost, nowMs: number): ArchiveStep {
  const period = oldestUnpruned(host.sql);
  if (period === null) return { did: "none", period: null, r2Operations: 0, nextDueMs: null };
  const hotUntil = period.hotUntilMs ?? 0;
  if (hotUntil > nowMs) return { did: "waiting", period: period.id, r2Operations: 0, nextDueMs: hotUntil };
  if (host.publishesEvents() && readEventCursor(host.sql).entrySeq < period.lastSeq) {
    // The outbox is behind; its own job runs first in every alarm run.
    return { did: "waiting", period: period.id, r2Operations: 0, nextDueMs: nowMs + PRUNE_EVENTS_WAIT_MS };
  }
  const first = period.pruned === 0;
  // Keys leave before entries: a key row still here always finds its entry here (decide.ts relies on it).
  const deleted = host.storage.transactionSync(() => {
    if (first) setPruned(host.sql, period.id, 1);
    const keys = host.sql.write(
      "DELETE FROM keys WHERE pos IN (SELECT pos FROM keys WHERE pos BETWEEN ? AND ? ORDER BY pos LIMIT ?)",
      period.firstPos,
      period.lastPos,
      PRUNE_ROWS_PER_STEP,
    );
    const ledger =
      keys > 0
        ? 0
        : host.sql.write(
            "DELETE FROM ledger WHERE seq IN (SELECT seq FROM ledger WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?)",
            period.firstSeq,
            period.lastSeq,
            PRUNE_ROWS_PER_STEP,
          );
    if (ledger === 0 && keys === 0) setPruned(host.sql, period.id, 2);
    return ledger + keys;
  });
  if (first) host.periodsLeft();
  return { did: deleted === 0 ? "none" : "prune", period: period.id, r2Operations: 0, nextDueMs: 0 };
}

type KeyArchiveRow = {
  readonly key: string;
  readonly status: number;
  readonly code: string | null;
  readonly decided_ms: number;
  readonly seq: number | null;
  readonly tag: number | null;
  readonly type: number | null;
};

/** The last of the next `count` keys of the object (any period's) after `after` in key order; null when none is left. */
function keyWindowEnd(sql: CountedSql, after: string, count: number): string | null {
  return (
    sql.first<{ key: string | null }>(
      "SELECT MAX(key) AS key FROM (SELECT key FROM keys WHERE key > ? ORDER BY key LIMIT ?)",
      after,
      count,
    )?.key ?? null
  );
}

/**
 * The period's keys in key order after `after` and up to `upTo`, at most `limit`, with their
 * entries' ids. The key index is walked (`+k.pos` keeps SQLite from reading the whole period by
 * pos and sorting it); the pos test reads the index entry alone, so a key of another period costs
 * no row read.
 */
function periodKeysIn(sql: CountedSql, period: PeriodRow, after: string, upTo: string, limit: number): KeyArchiveRow[] {
  return sql.rows<KeyArchiveRow>(
    `SELECT k.key, k.status, k.code, k.decided_ms, l.seq, l.tag, l.type FROM keys k LEFT JOIN ledger l ON l.seq = k.entry_seq
     WHERE k.key > ? AND k.key <= ? AND +k.pos BETWEEN ? AND ? ORDER BY k.key LIMIT ?`,
    after,
    upTo,
    period.firstPos,
    period.lastPos,
    limit,
  );
}

/** An archived key's decision, as a line of its keys object (archive-reader.ts reads it). */
export interface ArchivedKey {
  readonly key: string;
  readonly status: number;
  readonly code: string | null;
  readonly entry: string | null;
  readonly decided: string;
}

function keyLine(row: KeyArchiveRow): string {
  const line: ArchivedKey = {
    key: row.key,
    status: row.status,
    code: row.code,
    entry: row.seq === null ? null : storedEntryId(row.seq, row.tag as number, row.type as number),
    decided: timestamp(row.decided_ms),
  };
  return JSON.stringify(line);
}

/**
 * One object's JSON lines, built a slice at a time: as many whole lines as fit in
 * ARCHIVE_ROWS_PER_OBJECT rows and ARCHIVE_OBJECT_MAX_BYTES bytes (always at least one). Each
 * slice's lines become UTF-8 bytes and go into the object's SHA-256 as the slice ends, so the
 * object's bytes are those of all its lines, each ended by a newline, whatever the slices.
 */
class ObjectText {
  rows = 0;
  bytes = 0;
  /** Whether a line did not fit, or the rows are at their limit: the object ends here. */
  full = false;
  private lines: string[] = [];
  private readonly chunks: Uint8Array[] = [];
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly hashing = this.digest.getWriter();

  /** How many more rows fit. */
  room(): number {
    return ARCHIVE_ROWS_PER_OBJECT - this.rows;
  }

  /** Adds a line if it fits (false, and the object is full, if not). */
  add(line: string): boolean {
    const size = utf8Length(line) + 1;
    if (this.rows >= ARCHIVE_ROWS_PER_OBJECT || (this.rows > 0 && this.bytes + size > ARCHIVE_OBJECT_MAX_BYTES)) {
      this.full = true;
      return false;
    }
    this.lines.push(line);
    this.rows += 1;
    this.bytes += size;
    if (this.rows === ARCHIVE_ROWS_PER_OBJECT) this.full = true;
    return true;
  }

  /** Ends a slice: its lines become bytes, hashed. */
  async endSlice(): Promise<void> {
    if (this.lines.length === 0) return;
    const chunk = encoder.encode(`${this.lines.join("\n")}\n`);
    this.lines = [];
    this.chunks.push(chunk);
    await this.hashing.write(chunk);
  }

  /** The object's bytes and their SHA-256, as hex. */
  async finish(): Promise<{ bytes: Uint8Array; sha256: string }> {
    await this.endSlice();
    await this.hashing.close();
    const sha256 = bytesToHex(new Uint8Array(await this.digest.digest));
    const bytes = new Uint8Array(this.bytes);
    let at = 0;
    for (const chunk of this.chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    if (at !== this.bytes)
      throw new Error(`invariant: an archived object's lines counted ${this.bytes} bytes, not ${at}`);
    return { bytes, sha256 };
  }
}

function objectCount(sql: CountedSql, periodId: number, kind: "entries" | "keys"): number {
  return (
    sql.first<{ n: number }>(
      "SELECT COUNT(*) AS n FROM period_objects WHERE period_id = ? AND kind = ?",
      periodId,
      kind,
    )?.n ?? 0
  );
}

/** Deterministic: the same period's same object always has the same name (and, rewritten, the same bytes). */
export function objectName(prefix: string, periodId: number, kind: "entries" | "keys", n: number): string {
  return `${prefix}/periods/${String(periodId).padStart(10, "0")}/${kind}-${String(n).padStart(6, "0")}.jsonl`;
}

/** Writes an object and reads it back: recorded only if R2 holds exactly these bytes. */
async function writeVerified(
  bucket: R2Bucket,
  run: RunStorage,
  pause: () => Promise<void>,
  object: { name: string; kind: "entries" | "keys"; n: number; first: string; text: ObjectText },
): Promise<ObjectRow> {
  const { bytes, sha256 } = await object.text.finish();
  run.check();
  await putInSlices(bucket, pause, object.name, bytes, sha256);
  const stored = await bucket.get(object.name);
  const back = stored === null ? null : await readInSlices(stored, pause, null);
  if (back === null || back.bytes !== bytes.length || back.sha256 !== sha256) {
    throw new Error(`archive: ${object.name} did not read back as written`);
  }
  return { name: object.name, kind: object.kind, n: object.n, first: object.first, bytes: bytes.length, sha256 };
}

/**
 * Puts an object's bytes as a stream of known length, fed ARCHIVE_BYTES_PER_SLICE at a time with
 * a yield after each: where the bucket's work shares the object's thread (local R2, where one put
 * of a whole 3 MB object held every request for 60-100 ms), it takes its body a slice at a time.
 */
async function putInSlices(
  bucket: R2Bucket,
  pause: () => Promise<void>,
  name: string,
  bytes: Uint8Array,
  sha256: string,
): Promise<void> {
  const body = new FixedLengthStream(bytes.length);
  const feed = async () => {
    const writer = body.writable.getWriter();
    for (let at = 0; at < bytes.length; at += ARCHIVE_BYTES_PER_SLICE) {
      await writer.write(bytes.subarray(at, at + ARCHIVE_BYTES_PER_SLICE));
      await pause();
    }
    await writer.close();
  };
  await Promise.all([bucket.put(name, body.readable, { sha256 }), feed()]);
}

/**
 * Reads an object's body as it arrives, hashing it (and feeding it to `also`, the period's chain,
 * when given) with a yield after every ARCHIVE_BYTES_PER_SLICE bytes: its length, and its SHA-256 as
 * hex. Read whole (arrayBuffer), a 3 MB object came back in one piece of the object's thread where
 * the bucket shares it (local R2).
 */
async function readInSlices(
  object: R2ObjectBody,
  pause: () => Promise<void>,
  also: WritableStreamDefaultWriter<Uint8Array> | null,
): Promise<{ bytes: number; sha256: string }> {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  // An R2 object's body is its bytes (the types leave its chunks untyped).
  const reader = (object.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  let sincePause = 0;
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const chunk = read.value;
    for (let at = 0; at < chunk.length; at += ARCHIVE_BYTES_PER_SLICE) {
      const slice = chunk.subarray(at, at + ARCHIVE_BYTES_PER_SLICE);
      await writer.write(slice);
      if (also !== null) await also.write(slice);
      sincePause += slice.length;
      // Chunks come as the bucket sends them, often far smaller than a slice: a pause per slice's worth.
      if (sincePause >= ARCHIVE_BYTES_PER_SLICE) {
        sincePause = 0;
        await pause();
      }
    }
    bytes += chunk.length;
  }
  await writer.close();
  return { bytes, sha256: bytesToHex(new Uint8Array(await digest.digest)) };
}

/**
 * Lets the requests queued at the object run before the step goes on: a timer's callback comes
 * after the events already waiting, and no storage operation is in flight to hold them back.
 */
function yieldToRequests(): Promise<void> {
  return scheduler.wait(0);
}

/**
 * How a step of this period pauses between its slices: it yields to the object's requests when the
 * period holds more than ARCHIVE_SLICED_FROM_ROWS entries or keys, and goes on only while its run
 * has not been taken over; a smaller period's step runs at once, as its whole work is about one
 * slice's few milliseconds (and a run that never waits on a timer is never cut off at one, which
 * would hold the next run back ALARM_RUN_STALE_MS: alarm-schedule.ts).
 */
function pauseFor(host: ArchiveHost, period: PeriodRow): () => Promise<void> {
  const rows = Math.max(period.lastSeq - period.firstSeq + 1, period.lastPos - period.firstPos + 1);
  if (rows <= ARCHIVE_SLICED_FROM_ROWS) return proceed;
  return async () => {
    await yieldToRequests();
    host.storage.check();
  };
}

function proceed(): Promise<void> {
  return Promise.resolve();
}

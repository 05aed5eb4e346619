import type { PeriodObjectView } from "../domain/views.ts";
import type { CountedSql } from "./sql.ts";

/**
 * Periods and their archived objects: SQL only. A period is a closed range
 * of entries (by seq) and of the keys decided meanwhile (by pos); the
 * archive job (period-archive.ts) copies both to R2, then deletes them here
 * once no replay needs them.
 */

/** How far the archive job has got with a period, so each alarm step does one bounded piece. */
export type ArchiveProgress =
  | { readonly phase: "entries"; readonly afterSeq: number }
  | { readonly phase: "keys"; readonly afterKey: string | null }
  | {
      readonly phase: "filter";
      readonly afterPos: number;
      /** What the keys before afterPos showed (absent at the first step). */
      readonly facts?: KeyFacts;
    }
  | { readonly phase: "seal" };

/** What a period's keys tell where a key is: its timed keys' first and last decision, and its last expiry. */
export interface KeyFacts {
  readonly firstDecidedMs: number | null;
  readonly lastDecidedMs: number | null;
  readonly hotUntilMs: number | null;
}

/** Whether a period's rows are still all in the object (0), may be partly deleted (1), or are all gone (2). */
export type PruneState = 0 | 1 | 2;

export interface PeriodRow {
  readonly id: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstPos: number;
  readonly lastPos: number;
  readonly openingBalance: number;
  readonly closingBalance: number;
  /** The earliest and latest decision among its keys: where a key with a true embedded time can be. */
  readonly firstDecidedMs: number | null;
  readonly lastDecidedMs: number | null;
  readonly createdMs: number;
  readonly state: "closing" | "archived";
  readonly progress: ArchiveProgress;
  readonly sha256: string | null;
  /** The previous period's sha256 ("" for the first period), known once this one is archived. */
  readonly previousSha256: string;
  /** The latest expiry among its keys: until then a replay may need its rows. */
  readonly hotUntilMs: number | null;
  readonly pruned: PruneState;
  /** Untimed keys it added to the filter of schema 7 (archive-filter.ts; 0 from schema 8 on, which stages them for the locator), and the filter generation. */
  readonly filterKeys: number;
  readonly filterGeneration: number;
}

type Row = {
  id: number;
  first_seq: number;
  last_seq: number;
  first_pos: number;
  last_pos: number;
  opening_balance: number;
  closing_balance: number;
  first_decided_ms: number | null;
  last_decided_ms: number | null;
  created_ms: number;
  state: string;
  progress: string;
  sha256: string | null;
  previous_sha256: string;
  hot_until_ms: number | null;
  pruned: number;
  filter_keys: number;
  filter_generation: number;
};

const COLUMNS =
  "id, first_seq, last_seq, first_pos, last_pos, opening_balance, closing_balance, first_decided_ms, last_decided_ms, created_ms, state, progress, sha256, previous_sha256, hot_until_ms, pruned, filter_keys, filter_generation";

/** A period's key count is last_pos - first_pos + 1: positions are given out with no gap. */
function toPeriodRow(row: Row): PeriodRow {
  if (row.state !== "closing" && row.state !== "archived") {
    throw new Error(`invariant: period ${row.id} is ${row.state}`);
  }
  if (row.last_seq < row.first_seq || row.last_pos < row.first_pos - 1) {
    throw new Error(
      `invariant: period ${row.id} spans seq ${row.first_seq}-${row.last_seq}, pos ${row.first_pos}-${row.last_pos}`,
    );
  }
  return {
    id: row.id,
    firstSeq: row.first_seq,
    lastSeq: row.last_seq,
    firstPos: row.first_pos,
    lastPos: row.last_pos,
    openingBalance: row.opening_balance,
    closingBalance: row.closing_balance,
    firstDecidedMs: row.first_decided_ms,
    lastDecidedMs: row.last_decided_ms,
    createdMs: row.created_ms,
    state: row.state,
    progress: JSON.parse(row.progress) as ArchiveProgress,
    sha256: row.sha256,
    previousSha256: row.previous_sha256,
    hotUntilMs: row.hot_until_ms,
    pruned: row.pruned as PruneState,
    filterKeys: row.filter_keys,
    filterGeneration: row.filter_generation,
  };
}

export function insertPeriod(
  sql: CountedSql,
  period: Pick<
    PeriodRow,
    "id" | "firstSeq" | "lastSeq" | "firstPos" | "lastPos" | "openingBalance" | "closingBalance" | "createdMs"
  >,
  idempotencyKey: string | null,
): void {
  const progress: ArchiveProgress = { phase: "entries", afterSeq: period.firstSeq - 1 };
  const written = sql.write(
    `INSERT INTO periods (id, first_seq, last_seq, first_pos, last_pos, opening_balance, closing_balance, created_ms,
       idempotency_key, state, progress, previous_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'closing', ?, '')`,
    period.id,
    period.firstSeq,
    period.lastSeq,
    period.firstPos,
    period.lastPos,
    period.openingBalance,
    period.closingBalance,
    period.createdMs,
    idempotencyKey,
    JSON.stringify(progress),
  );
  if (written === 0) throw new Error(`invariant: period ${period.id} was not written`);
}

export function lastPeriod(sql: CountedSql): PeriodRow | null {
  const row = sql.first<Row>(`SELECT ${COLUMNS} FROM periods ORDER BY id DESC LIMIT 1`);
  return row === undefined ? null : toPeriodRow(row);
}

export function findPeriod(sql: CountedSql, id: number): PeriodRow | null {
  const row = sql.first<Row>(`SELECT ${COLUMNS} FROM periods WHERE id = ?`, id);
  return row === undefined ? null : toPeriodRow(row);
}

/** The periods after `afterId`, oldest first; one more than `limit` tells whether there are more. */
export function periodsAfter(sql: CountedSql, afterId: number, limit: number): PeriodRow[] {
  return sql
    .rows<Row>(`SELECT ${COLUMNS} FROM periods WHERE id > ? ORDER BY id LIMIT ?`, afterId, limit)
    .map(toPeriodRow);
}

/** The oldest period not yet archived: periods are archived in order, since each one's digest chains the last. */
export function oldestClosing(sql: CountedSql): PeriodRow | null {
  const row = sql.first<Row>(`SELECT ${COLUMNS} FROM periods WHERE state = 'closing' ORDER BY id LIMIT 1`);
  return row === undefined ? null : toPeriodRow(row);
}

/** The oldest archived period whose rows are still (partly) in the object. */
export function oldestUnpruned(sql: CountedSql): PeriodRow | null {
  const row = sql.first<Row>(
    `SELECT ${COLUMNS} FROM periods WHERE state = 'archived' AND pruned < 2 ORDER BY id LIMIT 1`,
  );
  return row === undefined ? null : toPeriodRow(row);
}

/** Every period whose rows may have left the object: where a key or entry not found here is looked for. */
export function leftPeriods(sql: CountedSql): PeriodRow[] {
  return sql.rows<Row>(`SELECT ${COLUMNS} FROM periods WHERE pruned > 0 ORDER BY id`).map(toPeriodRow);
}

export function setProgress(sql: CountedSql, id: number, progress: ArchiveProgress): void {
  sql.run("UPDATE periods SET progress = ? WHERE id = ? AND state = 'closing'", JSON.stringify(progress), id);
}

export function setKeyFacts(sql: CountedSql, id: number, facts: KeyFacts): void {
  sql.run(
    "UPDATE periods SET first_decided_ms = ?, last_decided_ms = ?, hot_until_ms = ? WHERE id = ? AND state = 'closing'",
    facts.firstDecidedMs,
    facts.lastDecidedMs,
    facts.hotUntilMs,
    id,
  );
}

/** Seals a period: its digest and the one it chains to are final, and its objects all written and verified. */
export function markArchived(sql: CountedSql, id: number, sha256: string, previousSha256: string): void {
  const written = sql.write(
    "UPDATE periods SET state = 'archived', sha256 = ?, previous_sha256 = ?, progress = '{\"phase\":\"seal\"}' WHERE id = ? AND state = 'closing'",
    sha256,
    previousSha256,
    id,
  );
  if (written === 0) throw new Error(`invariant: period ${id} was not closing when sealed`);
}

export function setPruned(sql: CountedSql, id: number, pruned: PruneState): void {
  sql.run("UPDATE periods SET pruned = ? WHERE id = ? AND state = 'archived'", pruned, id);
}

export interface ObjectRow extends PeriodObjectView {
  readonly n: number;
  /** The first seq (as 16 digits, so text order is number order) or the first key the object holds. */
  readonly first: string;
}

/** Entries objects are found by seq through text comparison, so a seq is written with a fixed width. */
export function seqText(seq: number): string {
  return String(seq).padStart(16, "0");
}

export function insertObject(sql: CountedSql, periodId: number, object: ObjectRow): void {
  sql.run(
    `INSERT INTO period_objects (period_id, kind, n, first, name, bytes, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (period_id, kind, n) DO NOTHING`,
    periodId,
    object.kind,
    object.n,
    object.first,
    object.name,
    object.bytes,
    object.sha256,
  );
}

type ObjectRecord = { kind: string; n: number; first: string; name: string; bytes: number; sha256: string };

function toObjectRow(row: ObjectRecord): ObjectRow {
  return {
    kind: row.kind as ObjectRow["kind"],
    n: row.n,
    first: row.first,
    name: row.name,
    bytes: row.bytes,
    sha256: row.sha256,
  };
}

export function objectsOf(sql: CountedSql, periodId: number): ObjectRow[] {
  return sql
    .rows<ObjectRecord>(
      "SELECT kind, n, first, name, bytes, sha256 FROM period_objects WHERE period_id = ? ORDER BY kind, n",
      periodId,
    )
    .map(toObjectRow);
}

/** The object of `kind` in the period whose range holds `first` (a seq as seqText, or a key); null if before all. */
export function objectHolding(
  sql: CountedSql,
  periodId: number,
  kind: "entries" | "keys",
  first: string,
): ObjectRow | null {
  const row = sql.first<ObjectRecord>(
    "SELECT kind, n, first, name, bytes, sha256 FROM period_objects WHERE period_id = ? AND kind = ? AND first <= ? ORDER BY first DESC LIMIT 1",
    periodId,
    kind,
    first,
  );
  return row === undefined ? null : toObjectRow(row);
}

import { DurableObject } from "cloudflare:workers";
import { optionalBindings } from "../config/optional-bindings.ts";
import {
  REPLAYABLE_REASONS,
  type DeadLetterList,
  type DeadLetterReasonName,
  type DeadLetterView,
  type JsonValue,
} from "../domain/dead-letters.ts";
import type { FieldError } from "../domain/field-error.ts";
import {
  MAX_COMMAND_MESSAGE_BYTES,
  MAX_DEAD_LETTER_ERRORS_BYTES,
  MAX_STORED_DEAD_LETTERS,
  MAX_STORED_DEAD_LETTERS_PER_TENANT,
} from "../domain/limits.ts";
import { truncateUtf8, utf8Length } from "../lib/text.ts";

/**
 * One object (named DEAD_LETTER_STORE_NAME in src/transport/dead-letter-client.ts)
 * that keeps every dead letter the commands queue's consumer sends, until an
 * operator replays or discards it: the dead-letter queue itself drops its
 * messages after 4 days. The consumer stores each letter here before it sends
 * it to that queue, keyed by its message's id, so a redelivered batch stores
 * it once. A replay sends the letter's original to the commands queue again,
 * where it is decided like any other message, under its own Idempotency-Key
 * and account: sent twice, it is still decided once.
 */

/** A letter as the consumer hands it over: its `{reason, errors, original}` and its message's id, tenant and delivery. */
export interface LetterToKeep {
  readonly id: string;
  /** The tenant its message names, if API_KEYS lists it; null otherwise (the operator's alone). */
  readonly tenant: string | null;
  readonly attempts: number;
  readonly reason: DeadLetterReasonName;
  readonly errors: readonly FieldError[];
  readonly original: unknown;
}

export interface KeepAnswer {
  /** Letters stored now. */
  readonly kept: number;
  /** Letters already stored under their message's id (a redelivery), left as they were. */
  readonly duplicates: number;
  /** Ids of letters not stored: the store, or their tenant's share of it, is full. */
  readonly refused: readonly string[];
}

/** What to list: a tenant's letters or those of no known tenant (else all), of one reason, replayed or not. */
export interface LetterQuery {
  readonly tenant?: string | null;
  readonly reason?: DeadLetterReasonName;
  readonly replayed?: boolean;
  readonly limit: number;
  /** A letter's id: the page starts after it. */
  readonly startingAfter?: string;
}

/**
 * Answers carry views as their JSON text (`body`), ready to be answered
 * with, as an account object's outcomes are.
 */

/** A page (a DeadLetterList), or the cursor named no letter. */
export type LetterPage = { readonly ok: true; readonly body: string } | { readonly ok: false };

export type ReplayAnswer =
  /** Its original was sent to the commands queue now; `body` is the letter (a DeadLetterView) marked replayed. */
  | { readonly kind: "replayed"; readonly body: string }
  /** It had been replayed before: nothing was sent. */
  | { readonly kind: "already_replayed"; readonly body: string }
  /** Its reason is the message's own fault, or its original is not text: nothing was sent. */
  | { readonly kind: "not_replayable"; readonly reason: string }
  | { readonly kind: "not_found" }
  /** Nothing was sent: COMMANDS is unbound, or the send failed. */
  | { readonly kind: "send_failed"; readonly error: string };

interface LetterRow extends Record<string, SqlStorageValue> {
  seq: number;
  id: string;
  tenant: string | null;
  reason: string;
  errors: string;
  original_kind: string;
  original: string;
  attempts: number;
  dead_lettered_ms: number;
  replayed_ms: number | null;
  replayed_by: string | null;
}

/** The tally key of letters with no known tenant; no tenant id is empty. */
const NO_TENANT = "";

export class DeadLetterStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Letters stored, per tenant (NO_TENANT for none), counted once per object start. */
  private tallies: Map<string, number> | undefined;
  /** Replays under way, by letter id: a second replay of the same letter waits for the first instead of sending again. */
  private readonly replaying = new Map<string, Promise<ReplayAnswer>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // `original` is the message's text (`original_kind` text), or the JSON of what the consumer could
    // carry of a message not sent as text (`json`); `errors` is their JSON list.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT,
        reason TEXT NOT NULL,
        errors TEXT NOT NULL,
        original_kind TEXT NOT NULL CHECK (original_kind IN ('text', 'json')),
        original TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        dead_lettered_ms INTEGER NOT NULL,
        replayed_ms INTEGER,
        replayed_by TEXT
      );
      CREATE INDEX IF NOT EXISTS letters_by_tenant ON letters (tenant, seq);
      CREATE INDEX IF NOT EXISTS letters_by_reason ON letters (reason, seq);`);
  }

  /** Stores each letter not stored yet, in one transaction; a letter already stored under its id is left as it was. */
  keep(letters: readonly LetterToKeep[]): KeepAnswer {
    const tallies = this.tallied();
    let total = 0;
    for (const held of tallies.values()) total += held;
    // Counted apart, and added to the tallies only once the transaction has committed.
    const added = new Map<string, number>();
    let duplicates = 0;
    const refused: string[] = [];
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const letter of letters) {
        if (this.sql.exec("SELECT 1 FROM letters WHERE id = ?", letter.id).toArray().length > 0) {
          duplicates += 1;
          continue;
        }
        const bucket = letter.tenant ?? NO_TENANT;
        const held = (tallies.get(bucket) ?? 0) + (added.get(bucket) ?? 0);
        if (total >= MAX_STORED_DEAD_LETTERS || held >= MAX_STORED_DEAD_LETTERS_PER_TENANT) {
          refused.push(letter.id);
          continue;
        }
        const [originalKind, original] = storedOriginal(letter.original);
        this.sql.exec(
          `INSERT INTO letters (id, tenant, reason, errors, original_kind, original, attempts, dead_lettered_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          letter.id,
          letter.tenant,
          letter.reason,
          errorsWithin(letter.errors, MAX_DEAD_LETTER_ERRORS_BYTES),
          originalKind,
          original,
          letter.attempts,
          now,
        );
        added.set(bucket, (added.get(bucket) ?? 0) + 1);
        total += 1;
      }
    });
    let kept = 0;
    for (const [bucket, letters] of added) {
      tallies.set(bucket, (tallies.get(bucket) ?? 0) + letters);
      kept += letters;
    }
    return { kept, duplicates, refused };
  }

  /** Letters in the order they were stored, after `startingAfter`, at most `limit`, and whether more follow. */
  list(query: LetterQuery): LetterPage {
    const where: string[] = [];
    const bindings: SqlStorageValue[] = [];
    if (query.startingAfter !== undefined) {
      const cursor = this.row(query.startingAfter);
      if (cursor === undefined) return { ok: false };
      where.push("seq > ?");
      bindings.push(cursor.seq);
    }
    if (query.tenant === null) where.push("tenant IS NULL");
    else if (query.tenant !== undefined) {
      where.push("tenant = ?");
      bindings.push(query.tenant);
    }
    if (query.reason !== undefined) {
      where.push("reason = ?");
      bindings.push(query.reason);
    }
    if (query.replayed !== undefined) where.push(query.replayed ? "replayed_ms IS NOT NULL" : "replayed_ms IS NULL");
    const rows = this.sql
      .exec<LetterRow>(
        `SELECT * FROM letters ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`} ORDER BY seq LIMIT ?`,
        ...bindings,
        query.limit + 1,
      )
      .toArray();
    const page: DeadLetterList = { data: rows.slice(0, query.limit).map(viewOf), has_more: rows.length > query.limit };
    return { ok: true, body: JSON.stringify(page) };
  }

  /** The letter (a DeadLetterView) as JSON text, or null if none is stored under `id`. */
  get(id: string): string | null {
    const row = this.row(id);
    return row === undefined ? null : JSON.stringify(viewOf(row));
  }

  /**
   * Sends the letter's original to the commands queue again, once: a letter
   * replayed before, or being replayed now, is not sent again. The send comes
   * before the mark, so a crash between them leaves the letter unmarked and a
   * later replay sends it again: harmless, since the message is decided under
   * its own Idempotency-Key, and its second copy replays the first's answer.
   */
  async replay(id: string, operator: string): Promise<ReplayAnswer> {
    const running = this.replaying.get(id);
    if (running !== undefined) {
      const answer = await running;
      return answer.kind === "replayed" ? { kind: "already_replayed", body: answer.body } : answer;
    }
    const attempt = this.replayOnce(id, operator);
    this.replaying.set(id, attempt);
    try {
      return await attempt;
    } finally {
      this.replaying.delete(id);
    }
  }

  /** Forgets a letter for good (an operator dealt with it); false if there was none. */
  discard(id: string): boolean {
    const row = this.row(id);
    if (row === undefined) return false;
    this.sql.exec("DELETE FROM letters WHERE id = ?", id);
    const tallies = this.tallied();
    const bucket = row.tenant ?? NO_TENANT;
    tallies.set(bucket, (tallies.get(bucket) ?? 1) - 1);
    return true;
  }

  private async replayOnce(id: string, operator: string): Promise<ReplayAnswer> {
    const row = this.row(id);
    if (row === undefined) return { kind: "not_found" };
    const letter = viewOf(row);
    if (row.replayed_ms !== null) return { kind: "already_replayed", body: JSON.stringify(letter) };
    if (!letter.replayable || typeof letter.original !== "string") {
      return { kind: "not_replayable", reason: letter.reason };
    }
    const commands = optionalBindings(this.env).COMMANDS;
    if (commands === undefined) return { kind: "send_failed", error: "COMMANDS is unbound" };
    try {
      // As producers send commands: JSON text, read by the consumer's own strict rules.
      await commands.send(letter.original, { contentType: "text" });
    } catch (error) {
      return { kind: "send_failed", error: String(error) };
    }
    const replayedMs = Date.now();
    this.sql.exec(
      "UPDATE letters SET replayed_ms = ?, replayed_by = ? WHERE id = ? AND replayed_ms IS NULL",
      replayedMs,
      operator,
      id,
    );
    const replayed: DeadLetterView = {
      ...letter,
      replayed: new Date(replayedMs).toISOString(),
      replayed_by: operator,
    };
    return { kind: "replayed", body: JSON.stringify(replayed) };
  }

  private row(id: string): LetterRow | undefined {
    return this.sql.exec<LetterRow>("SELECT * FROM letters WHERE id = ?", id).toArray()[0];
  }

  private tallied(): Map<string, number> {
    if (this.tallies === undefined) {
      const rows = this.sql
        .exec<{ tenant: string | null; letters: number }>(
          "SELECT tenant, COUNT(*) AS letters FROM letters GROUP BY tenant",
        )
        .toArray();
      this.tallies = new Map(rows.map((row) => [row.tenant ?? NO_TENANT, row.letters]));
    }
    return this.tallies;
  }
}

/** How the original is stored: its text as it came, or, for what was not text, its JSON (bounded as the text is). */
function storedOriginal(original: unknown): ["text" | "json", string] {
  if (typeof original === "string") return ["text", truncateUtf8(original, MAX_COMMAND_MESSAGE_BYTES)];
  const json = JSON.stringify(original) as string | undefined;
  return ["json", json !== undefined && utf8Length(json) <= MAX_COMMAND_MESSAGE_BYTES ? json : "null"];
}

/** The errors as a JSON list of at most `maxBytes`, whole errors from the first. */
function errorsWithin(errors: readonly FieldError[], maxBytes: number): string {
  const kept: string[] = [];
  let bytes = 2;
  for (const error of errors) {
    const json = JSON.stringify({ field: error.field, message: error.message });
    bytes += utf8Length(json) + (kept.length === 0 ? 0 : 1);
    if (bytes > maxBytes) break;
    kept.push(json);
  }
  return `[${kept.join(",")}]`;
}

function viewOf(row: LetterRow): DeadLetterView {
  const reason = row.reason as DeadLetterReasonName;
  const original = row.original_kind === "text" ? row.original : (JSON.parse(row.original) as JsonValue);
  return {
    id: row.id,
    tenant: row.tenant,
    reason,
    errors: JSON.parse(row.errors) as FieldError[],
    original,
    attempts: row.attempts,
    dead_lettered: new Date(row.dead_lettered_ms).toISOString(),
    replayable: REPLAYABLE_REASONS.has(reason) && typeof original === "string",
    replayed: row.replayed_ms === null ? null : new Date(row.replayed_ms).toISOString(),
    replayed_by: row.replayed_by,
  };
}

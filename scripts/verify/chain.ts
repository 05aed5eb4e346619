/**
 * The checks behind `npm run verify` (docs/verify.md), pure: given an
 * account's periods as the API lists them, the text of every entry exactly as
 * the entries API served it, and optionally a reader of the archived objects,
 * it recomputes every period's chained sha256, its links, its balances and
 * its objects' digests, and names the first period that does not match.
 * Web Crypto and TextEncoder only, so it runs in Node and in workerd alike.
 */
import type { PeriodView } from "../../src/domain/views.ts";
import { bytesToHex } from "../../src/lib/hex.ts";

/** What did not match: a range of seqs, a balance, a link to the previous period, the chained digest, an object. */
export type ProblemKind = "range" | "balance" | "link" | "chain" | "object";

export interface Problem {
  readonly kind: ProblemKind;
  readonly detail: string;
}

export interface Mismatch {
  /** The period's id; null for the open period (the entries after the last close). */
  readonly period: number | null;
  /** Everything found wrong with it, in the order checked. */
  readonly problems: readonly Problem[];
}

/** Reads an archived object's bytes by name; null if the bucket has no such object. */
export type ObjectReader = (name: string) => Promise<Uint8Array | null>;

export interface ChainInput {
  /** Every period, in the order listed (id order). */
  readonly periods: readonly PeriodView[];
  /** Every entry's JSON text as the entries API served it, in the order listed (seq order, from 1). */
  readonly entries: readonly string[];
  /** The account as read before its entries: its entries must end at its entry_count and balance. */
  readonly account?: { readonly entry_count: number; readonly balance: number };
  /** When given, every archived object is read and checked against its period. */
  readonly readObject?: ObjectReader;
}

export interface ChainReport {
  /** Periods listed, and how many of them are archived (the rest are closing). */
  readonly periods: number;
  readonly archived: number;
  /** Entries checked: those of the periods, and those of the open period after them. */
  readonly entries: number;
  readonly openEntries: number;
  /** The balance after the last entry checked. */
  readonly balance: number;
  /** The last archived period's sha256 as recomputed (null if none is archived). */
  readonly lastSha256: string | null;
  /** Objects read and their bytes; null when no reader was given. */
  readonly objects: { readonly read: number; readonly bytes: number } | null;
  /** The first period that does not match, or null if all did (checking stops there). */
  readonly mismatch: Mismatch | null;
}

const encoder = new TextEncoder();
const SHA256_HEX = /^[0-9a-f]{64}$/;
const KEY_FIELDS = ["key", "status", "code", "entry", "decided"];

interface Entry {
  readonly text: string;
  readonly seq: unknown;
  readonly amount: unknown;
  readonly balanceAfter: unknown;
}

/** An account whose every period, archived object and entry checks out: `mismatch` null; else the first that does not. */
export async function verifyChain(input: ChainInput): Promise<ChainReport> {
  const entries = input.entries.map(parseEntry);
  const objects = input.readObject === undefined ? null : { read: 0, bytes: 0 };
  let previous: PeriodView | null = null;
  const archived = input.periods.filter((period) => period.state === "archived").length;
  let lastSha256: string | null = null;
  const report = (mismatch: Mismatch | null, checked: number, balance: number, openEntries = 0): ChainReport => ({
    periods: input.periods.length,
    archived,
    entries: checked,
    openEntries,
    balance,
    lastSha256,
    objects,
    mismatch,
  });

  for (const [index, period] of input.periods.entries()) {
    const problems: Problem[] = [];
    const add = (kind: ProblemKind, detail: string) => problems.push({ kind, detail });
    const firstSeq = (previous?.last_seq ?? 0) + 1;
    const opening = previous?.closing_balance ?? 0;
    if (period.id !== index + 1) add("range", `period ${period.id} is listed where period ${index + 1} was due`);
    if (period.first_seq !== firstSeq) add("range", `first_seq is ${period.first_seq}, where ${firstSeq} was due`);
    if (period.last_seq < period.first_seq || period.entry_count !== period.last_seq - period.first_seq + 1) {
      add("range", `entry_count ${period.entry_count} does not span seq ${period.first_seq} to ${period.last_seq}`);
    }
    // Its entries, digest and objects mean nothing while its range is off.
    if (problems.length > 0) return report({ period: period.id, problems }, firstSeq - 1, opening);
    if (period.opening_balance !== opening) {
      const due = previous === null ? "a first period opens at 0" : `period ${previous.id} closed at ${opening}`;
      add("balance", `opening_balance is ${period.opening_balance}, but ${due}`);
    }
    const run = runEntries(entries, period.first_seq, period.last_seq, period.opening_balance, add);
    if (run.complete && run.balance !== period.closing_balance) {
      add(
        "balance",
        `opening_balance ${period.opening_balance} plus its entries' amounts is ${run.balance}, but closing_balance is ${period.closing_balance}`,
      );
    }

    if (period.state === "archived") {
      // What it chains to: "" for the first period; null when the period before has no digest yet.
      const chainedTo = previous === null ? "" : previous.state === "archived" ? previous.sha256 : null;
      if (chainedTo === null) {
        add("link", `it is archived, but period ${previous?.id ?? 0} before it is not`);
      } else if (period.previous_sha256 !== chainedTo) {
        add(
          "link",
          `previous_sha256 is ${show(period.previous_sha256)}, but period ${previous?.id ?? 0} has sha256 ${show(chainedTo)}`,
        );
      }
      if (period.sha256 === null || !SHA256_HEX.test(period.sha256)) {
        add("chain", `sha256 ${show(period.sha256)} is not a lower-case hex SHA-256`);
      } else if (run.complete && chainedTo !== null) {
        const recomputed = await sha256Hex(encoder.encode(`${chainedTo}\n${run.lines}`));
        if (recomputed !== period.sha256) {
          add("chain", `its entries and the previous sha256 give ${recomputed}, but the period lists ${period.sha256}`);
        }
      }
      if (input.readObject !== undefined && objects !== null) {
        await checkObjects(period, run.complete ? run.lines : null, input.readObject, objects, add);
      }
    } else if ((period.state as string) !== "closing") {
      // As served, which the view's type cannot promise.
      add("range", `state is ${show(period.state)}, neither closing nor archived`);
    }

    if (problems.length > 0) return report({ period: period.id, problems }, period.first_seq - 1, opening);
    if (period.state === "archived") lastSha256 = period.sha256;
    previous = period;
  }

  // The open period: the entries after the last close, up to the account's entry_count.
  const problems: Problem[] = [];
  const add = (kind: ProblemKind, detail: string) => problems.push({ kind, detail });
  const firstOpen = (previous?.last_seq ?? 0) + 1;
  const opening = previous?.closing_balance ?? 0;
  const lastSeq = input.account?.entry_count ?? entries.length;
  if (entries.length > lastSeq) add("range", `${entries.length} entries are listed, but the account has ${lastSeq}`);
  const run = runEntries(entries, firstOpen, lastSeq, opening, add);
  if (input.account !== undefined && run.complete && run.balance !== input.account.balance) {
    add("balance", `the entries sum to ${run.balance}, but the account's balance is ${input.account.balance}`);
  }
  const openEntries = Math.max(0, lastSeq - firstOpen + 1);
  if (problems.length > 0) return report({ period: null, problems }, firstOpen - 1, opening);
  return report(null, lastSeq, run.balance, openEntries);
}

function parseEntry(text: string): Entry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const entry = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  return { text, seq: entry.seq, amount: entry.amount, balanceAfter: entry.balance_after };
}

/**
 * Walks the entries `firstSeq` to `lastSeq` from `opening`: each must be
 * listed at its place, with a safe integer amount, and a balance_after that is
 * the running sum. `lines` is their texts, each followed by "\n", as the
 * chained digest and the entries objects hold them; `complete` whether every
 * one was there to check.
 */
function runEntries(
  entries: readonly Entry[],
  firstSeq: number,
  lastSeq: number,
  opening: number,
  add: (kind: ProblemKind, detail: string) => void,
): { complete: boolean; balance: number; lines: string } {
  let balance = opening;
  const lines: string[] = [];
  let balanceWrong = false;
  for (let seq = firstSeq; seq <= lastSeq; seq += 1) {
    const entry = entries[seq - 1];
    if (entry === undefined) {
      add("range", `entry ${seq} is not listed: the entries API ends at seq ${entries.length}`);
      return { complete: false, balance, lines: "" };
    }
    if (entry.seq !== seq) {
      add("range", `the entries API lists ${describeSeq(entry)} where seq ${seq} was due`);
      return { complete: false, balance, lines: "" };
    }
    if (typeof entry.amount !== "number" || !Number.isSafeInteger(entry.amount)) {
      add("balance", `entry ${seq} has amount ${JSON.stringify(entry.amount)}, not an integer`);
      return { complete: false, balance, lines: "" };
    }
    balance += entry.amount;
    if (!balanceWrong && entry.balanceAfter !== balance) {
      add("balance", `entry ${seq} has balance_after ${JSON.stringify(entry.balanceAfter)}, but the sum is ${balance}`);
      balanceWrong = true;
    }
    lines.push(`${entry.text}\n`);
  }
  return { complete: true, balance, lines: lines.join("") };
}

function describeSeq(entry: Entry): string {
  return typeof entry.seq === "number" ? `seq ${entry.seq}` : `an entry without a seq (${entry.text.slice(0, 60)})`;
}

/**
 * Each object of the period must be in the bucket with the size and SHA-256
 * the period lists; its entries objects, in order, must hold exactly `lines`
 * (null: the entries could not all be read); its keys objects one decision
 * per key, in key order, key_count in all.
 */
async function checkObjects(
  period: PeriodView,
  lines: string | null,
  readObject: ObjectReader,
  counted: { read: number; bytes: number },
  add: (kind: ProblemKind, detail: string) => void,
): Promise<void> {
  if (period.objects.length === 0) {
    add("object", "it is archived, but lists no objects");
    return;
  }
  const entryBytes: Uint8Array[] = [];
  let keys = 0;
  let lastKey: string | null = null;
  let keysReadable = true;
  for (const object of period.objects) {
    const bytes = await readObject(object.name);
    counted.read += 1;
    if (bytes === null) {
      add("object", `${object.name} is not in the bucket`);
      keysReadable &&= object.kind !== "keys";
      continue;
    }
    counted.bytes += bytes.length;
    if (bytes.length !== object.bytes) {
      add("object", `${object.name} holds ${bytes.length} bytes, but the period lists ${object.bytes}`);
    }
    const digest = await sha256Hex(bytes);
    if (digest !== object.sha256) {
      add("object", `${object.name} has sha256 ${digest}, but the period lists ${object.sha256}`);
    }
    if (object.kind === "entries") {
      entryBytes.push(bytes);
      continue;
    }
    for (const line of new TextDecoder().decode(bytes).split("\n").slice(0, -1)) {
      const key = keyOf(line);
      if (key === null) {
        add("object", `${object.name} holds a line that is not a key's decision: ${line.slice(0, 80)}`);
        return;
      }
      if (lastKey !== null && key <= lastKey) {
        add("object", `${object.name} holds key ${JSON.stringify(key)} after ${JSON.stringify(lastKey)}: out of order`);
        return;
      }
      lastKey = key;
      keys += 1;
    }
  }
  if (keysReadable && keys !== period.key_count) {
    add("object", `the keys objects hold ${keys} decisions, but key_count is ${period.key_count}`);
  }
  // Entries that could not all be read were reported already: there is nothing to compare with.
  if (lines === null) return;
  const held = concat(entryBytes);
  const listed = encoder.encode(lines);
  const at = firstDifference(held, listed);
  if (at !== null) {
    add(
      "object",
      `its entries objects (${held.length} bytes) differ from the entries API's lines (${listed.length} bytes) from byte ${at}`,
    );
  }
}

/** The key of a keys-object line `{key,status,code,entry,decided}`, or null if it is not one. */
function keyOf(line: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const fields = Object.keys(value);
  const key = (value as { key?: unknown }).key;
  if (fields.length !== KEY_FIELDS.length || !KEY_FIELDS.every((field, i) => fields[i] === field)) return null;
  return typeof key === "string" ? key : null;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number | null {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return i;
  return a.length === b.length ? null : n;
}

function show(value: string | null): string {
  return value === null ? "null" : JSON.stringify(value);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** The report as plain lines for a person: what was checked, then OK or the first period that does not match. */
export function renderReport(report: ChainReport): string {
  const closing = report.periods - report.archived;
  const lines = [
    `periods:  ${report.periods} (${report.archived} archived${closing === 0 ? "" : `, ${closing} closing: their chain is checked once archived`})`,
    `entries:  ${report.entries} checked (${report.openEntries} in the open period), balance ${report.balance}`,
    `chain:    ${report.lastSha256 === null ? "no archived period" : `last sha256 ${report.lastSha256}`}`,
    `objects:  ${report.objects === null ? "not read (no --r2)" : `${report.objects.read} read, ${report.objects.bytes} bytes`}`,
  ];
  const mismatch = report.mismatch;
  if (mismatch === null) return [...lines, "OK: every period matches"].join("\n");
  const name = mismatch.period === null ? "the open period" : `period ${mismatch.period}`;
  return [
    ...lines,
    `MISMATCH: ${name} does not match (${[...new Set(mismatch.problems.map((p) => p.kind))].join(", ")})`,
    ...mismatch.problems.map((problem) => `  ${problem.kind}: ${problem.detail}`),
  ].join("\n");
}

/** The command's exit code for a report: 0 when every period matches, 1 when one does not. */
export function exitCode(report: ChainReport): 0 | 1 {
  return report.mismatch === null ? 0 : 1;
}

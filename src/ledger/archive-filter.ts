import { golombSetContains, segments } from "../lib/golomb-set.ts";
import { hash64 } from "../lib/hash64.ts";
import type { CountedSql } from "./sql.ts";

/**
 * The filter of schema 7, read only: periods archived before schema 8 put
 * their untimed keys here (later ones stage them for the locator,
 * key-locator.ts), and it is still read for them.
 *
 * Keys went into generations; generation g has 2^(6+g) buckets. A key's
 * 64-bit hash picks its bucket (high bits) and its value (low bits). Each
 * bucket row is a run of segments, one per period that put keys in it: a
 * Golomb-coded set of those keys' values, each cut to log2(its keys) plus
 * 8 bits, tagged with its period and that width. A match
 * names its period, the one archived object to read.
 */

const BASE_BUCKET_BITS = 6;
/** A segment's tag packs its period id and its values' width: tag = period * TAG_WIDTHS + width. */
const TAG_WIDTHS = 64;

function bucketOf(hash: readonly [number, number], generation: number): number {
  return hash[0] >>> (32 - (BASE_BUCKET_BITS + generation));
}

function valueOf(hash: readonly [number, number], width: number): number {
  return hash[1] >>> (32 - width);
}

const queries = new Map<number, string>();

/** One statement reading a key's bucket in each generation in use. */
function lookupQuery(generations: number): string {
  let query = queries.get(generations);
  if (query === undefined) {
    const terms = Array.from({ length: generations }, (_, g) => `(generation = ${g} AND bucket = ?)`).join(" OR ");
    query = `SELECT data FROM key_filter WHERE ${terms}`;
    queries.set(generations, query);
  }
  return query;
}

/** The periods the filter says may hold `key` (a false match names a period that does not); empty when none. */
export function filterCandidates(sql: CountedSql, key: string, generations: number): number[] {
  if (generations === 0) return [];
  const hash = hash64(key);
  const buckets = Array.from({ length: generations }, (_, g) => bucketOf(hash, g));
  const periods: number[] = [];
  for (const row of sql.rows<{ data: ArrayBuffer }>(lookupQuery(generations), ...buckets)) {
    for (const { tag, set } of segments(new Uint8Array(row.data))) {
      if (golombSetContains(set, valueOf(hash, tag % TAG_WIDTHS))) periods.push(Math.floor(tag / TAG_WIDTHS));
    }
  }
  return periods;
}

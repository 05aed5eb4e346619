/**
 * A fetch that behaves like a bad network between the client and the ledger:
 * it loses answers after the server produced them, delivers requests twice,
 * sends concurrent copies, and holds requests back so copies and retries
 * overtake each other. It also keeps every answer the server gave to a
 * money-moving request, delivered or not, so the audit can compare them.
 */
import type { Fetch } from "onceledger/client";
import { parseIdempotencyKey } from "../../src/domain/idempotency-key.ts";
import type { Observation } from "./model.ts";
import { integerBetween, type Random } from "./random.ts";

export interface FaultRates {
  /** Share of answers lost after the server answered. */
  readonly drop: number;
  /** Share of requests delivered once more, a little later, in the background. */
  readonly duplicate: number;
  /** Share of requests sent as 2 or 3 simultaneous copies. */
  readonly concurrent: number;
  /** Share of requests held back before sending. */
  readonly delay: number;
  /** Longest hold-back, and longest lag of a duplicate, in milliseconds. */
  readonly maxDelayMs: number;
}

export interface FaultCounts {
  requests: number;
  dropped: number;
  duplicated: number;
  concurrentCopies: number;
  delayed: number;
}

export interface FaultyNetwork {
  readonly fetch: Fetch;
  readonly counts: FaultCounts;
  /** Answers by Idempotency-Key header, in the order they arrived. */
  readonly observations: Map<string, Observation[]>;
  /** Resolves once every background duplicate has been answered. */
  settle(): Promise<void>;
}

export function faultyNetwork(inner: Fetch, rates: FaultRates, random: Random): FaultyNetwork {
  const counts: FaultCounts = { requests: 0, dropped: 0, duplicated: 0, concurrentCopies: 0, delayed: 0 };
  const observations = new Map<string, Observation[]>();
  const background = new Set<Promise<unknown>>();

  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Delivers one copy and reads its whole answer, as the server sent it. */
  async function deliver(url: string, init: RequestInit): Promise<{ response: Response; body: string }> {
    counts.requests += 1;
    const response = await inner(url, { ...init, signal: null });
    const body = await response.text();
    const header = new Headers(init.headers).get("idempotency-key");
    const parsed = header === null ? null : parseIdempotencyKey(header);
    if (parsed?.ok === true && response.status < 500 && response.status !== 429) {
      const seen = observations.get(parsed.key) ?? [];
      seen.push({ status: response.status, body, replayed: response.headers.get("idempotent-replayed") === "true" });
      observations.set(parsed.key, seen);
    }
    return { response, body };
  }

  const fetch: Fetch = async (url, init) => {
    if (random() < rates.delay) {
      counts.delayed += 1;
      await wait(integerBetween(random, 0, rates.maxDelayMs));
    }
    let answer: { response: Response; body: string };
    if (random() < rates.concurrent) {
      const copies = integerBetween(random, 2, 3);
      counts.concurrentCopies += copies - 1;
      const answers = await Promise.all(Array.from({ length: copies }, () => deliver(url, init)));
      answer = answers[integerBetween(random, 0, copies - 1)] as (typeof answers)[number];
    } else {
      answer = await deliver(url, init);
    }
    if (random() < rates.duplicate) {
      counts.duplicated += 1;
      const lagMs = integerBetween(random, 0, rates.maxDelayMs);
      // A duplicate that fails in transit is simply one the server never saw.
      const copy = wait(lagMs)
        .then(() => deliver(url, init))
        .then(
          () => undefined,
          () => undefined,
        );
      background.add(copy);
      void copy.then(() => background.delete(copy));
    }
    if (random() < rates.drop) {
      counts.dropped += 1;
      throw new TypeError("chaos: the answer was lost after the server sent it");
    }
    return new Response(answer.body, { status: answer.response.status, headers: answer.response.headers });
  };

  return {
    fetch,
    counts,
    observations,
    async settle() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}

/**
 * A fetch that behaves like a bad network between the client and the ledger:
 * it loses requests before they arrive and answers after the server produced
 * them, delivers requests twice, sends concurrent copies, holds requests back
 * so copies and retries overtake each other, and stalls answers past the
 * client's patience. It keeps every answer the server gave to a money-moving
 * request, delivered to the client or not, so the audit can compare them.
 */
import type { Fetch } from "../../src/client/onceledger-client.ts";
import { parseIdempotencyKey } from "../../src/domain/idempotency-key.ts";
import type { Observation } from "./model.ts";
import { integerBetween, type Random } from "./random.ts";

export interface FaultRates {
  /** Share of requests lost before they reach the server. */
  readonly refuse: number;
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
  /** Share of answers held for `stallMs` after the server answered. */
  readonly stall: number;
  /** Longer than the client's attempt timeout, so it gives up and retries while the answer is still on its way. */
  readonly stallMs: number;
}

export interface FaultCounts {
  requests: number;
  refused: number;
  dropped: number;
  duplicated: number;
  concurrentCopies: number;
  delayed: number;
  stalled: number;
}

export interface FaultyNetwork {
  readonly fetch: Fetch;
  readonly counts: FaultCounts;
  /** Whole answers by Idempotency-Key, in the order they arrived. */
  readonly observations: Map<string, Observation[]>;
  /** Keys with a delivery that got no whole answer (a 429/5xx or a transport failure). */
  readonly unanswered: Set<string>;
  /** Resolves once every delivery, background copies included, has its answer. */
  settle(): Promise<void>;
}

export function faultyNetwork(inner: Fetch, rates: FaultRates, random: Random): FaultyNetwork {
  const counts: FaultCounts = {
    requests: 0,
    refused: 0,
    dropped: 0,
    duplicated: 0,
    concurrentCopies: 0,
    delayed: 0,
    stalled: 0,
  };
  const observations = new Map<string, Observation[]>();
  const unanswered = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();

  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const track = <T>(promise: Promise<T>): Promise<T> => {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
    return promise;
  };

  /**
   * Delivers one copy and reads its whole answer. The client's signal is not
   * passed on: an attempt the client abandons still reaches the server, as
   * it would on a real network.
   */
  function deliver(url: string, init: RequestInit): Promise<{ response: Response; body: string }> {
    const header = new Headers(init.headers).get("idempotency-key");
    const parsed = header === null ? null : parseIdempotencyKey(header);
    const key = parsed?.ok === true ? parsed.value : null;
    counts.requests += 1;
    const delivery = (async () => {
      try {
        const response = await inner(url, { ...init, signal: null });
        const body = await response.text();
        if (key !== null && response.status < 500 && response.status !== 429) {
          const seen = observations.get(key) ?? [];
          seen.push({
            status: response.status,
            body,
            replayed: response.headers.get("idempotent-replayed") === "true",
          });
          observations.set(key, seen);
        } else if (key !== null) {
          unanswered.add(key);
        }
        return { response, body };
      } catch (error) {
        if (key !== null) unanswered.add(key);
        throw error;
      }
    })();
    return track(delivery);
  }

  const fetch: Fetch = async (url, init) => {
    if (random() < rates.refuse) {
      counts.refused += 1;
      throw new TypeError("chaos: the request was lost before it reached the server");
    }
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
      // A duplicate that fails in transit is one the server never saw; nobody awaits its answer.
      void track(wait(lagMs).then(() => deliver(url, init))).catch(() => undefined);
    }
    if (random() < rates.drop) {
      counts.dropped += 1;
      throw new TypeError("chaos: the answer was lost after the server sent it");
    }
    if (random() < rates.stall) {
      counts.stalled += 1;
      await wait(rates.stallMs);
    }
    return new Response(answer.body, { status: answer.response.status, headers: answer.response.headers });
  };

  return {
    fetch,
    counts,
    observations,
    unanswered,
    async settle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}

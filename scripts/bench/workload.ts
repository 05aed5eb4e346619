/**
 * What the load generators send and what they saw, shared by the closed-loop,
 * open-loop and batch drivers: the jobs the benchmark hands to its load
 * process, the plan that picks each request's account and Idempotency-Key,
 * and the tally of answers the correctness check later compares the ledger
 * with (keys sent, keys accepted, a few charges to start reading from).
 */
import { KeyMaker, type KeyKind } from "./keys.ts";
import type { CpuSpent } from "./proc-cpu.ts";
import type { LatencySummary } from "./stats.ts";

export interface Target {
  readonly baseUrl: string;
  readonly token: string;
  /** The server's root pid, for its CPU time; null when not known. */
  readonly serverPid: number | null;
}

/**
 * new: a fresh key per request; replay: one stored key; mix: every dupEvery-th
 * request re-sends a recent key; list: the given keys in turn (retries of keys
 * decided before).
 */
export type Mode = "new" | "replay" | "mix" | "list";

export interface PlanSpec {
  readonly accounts: readonly string[];
  readonly mode: Mode;
  /** Unique per run: keys are `<keyPrefix>-<n>`, or UUIDs tagged with it (keys.ts). */
  readonly keyPrefix: string;
  /** How new keys are made (keys.ts); default counter. */
  readonly keyKind?: KeyKind;
  readonly replayKey?: string;
  /** Mode list: the keys to send, in turn. */
  readonly keys?: readonly string[];
  readonly dupEvery: number;
}

/** What each answer must be; anything else is counted as unexpected. */
export interface Expectation {
  readonly status: number;
  /** The Idempotent-Replayed header's value, or null when not checked (the hop sends none). */
  readonly replayed: "true" | "false" | null;
}

export type LoadJob =
  | {
      readonly kind: "closed";
      readonly target: Target;
      readonly plan: PlanSpec;
      readonly expect: Expectation;
      readonly connections: number;
      readonly seconds: number;
      /** Stop once this many keys were accepted (a preload); the time bound still holds. */
      readonly stopAfterAccepted?: number;
    }
  | {
      readonly kind: "open";
      readonly target: Target;
      readonly plan: PlanSpec;
      readonly expect: Expectation;
      readonly rate: number;
      readonly seconds: number;
      /** Keep each request's scheduled time and latency, to cut windows out afterwards. */
      readonly keepTimeline: boolean;
    }
  | {
      readonly kind: "batch";
      readonly target: Target;
      readonly account: string;
      readonly keyPrefix: string;
      readonly size: number;
      readonly inFlight: number;
      readonly seconds: number;
      readonly stopAfterAccepted?: number;
      /** How keys are made (keys.ts); default counter. */
      readonly keyKind?: KeyKind;
    }
  | FlowJob;

/**
 * Two-step money flows (flow-load.ts): transfers from accounts[0] to
 * accounts[1] ("one-way"), or between random distinct accounts ("random");
 * or holds on accounts[0], each placed and then captured. Keys are
 * `<keyPrefix>-<n>`.
 */
export interface FlowJob {
  readonly kind: "flow";
  readonly flow: "transfer" | "hold";
  readonly pairs: "one-way" | "random";
  readonly target: Target;
  readonly accounts: readonly string[];
  readonly keyPrefix: string;
  readonly connections: number;
  readonly seconds: number;
  /** Transfers only: sent open loop at this many a second instead of closed loop. */
  readonly rate?: number;
}

/** What a flow's load saw answered 201, for its check. */
export interface FlowTally {
  readonly transfers: Array<{ readonly id: string; readonly from: string; readonly to: string; readonly key: string }>;
  readonly holdsPlaced: string[];
  readonly captures: Array<{ readonly hold: string; readonly entry: string }>;
  /** Requests sent (keys made), and of them never answered (cut off at the end: decided or not). */
  sent: number;
  unanswered: number;
}

export interface ChargeSample {
  readonly id: string;
  readonly balanceAfter: number;
  readonly key: string;
}

export interface AccountTally {
  /** Distinct new keys sent (or about to be: a request cut off at the end may not have left). */
  readonly sent: number;
  /** Distinct keys answered 201. */
  readonly accepted: number;
  /** A few accepted charges (the latest ones and a spread of earlier ones), where a check can start reading. */
  readonly samples: readonly ChargeSample[];
}

export interface LoadResult {
  readonly kind: LoadJob["kind"];
  /** Wall time of the measured window, seconds. */
  readonly seconds: number;
  /** HTTP answers received. */
  readonly responses: number;
  /** Operations accepted with a 201 (a batch's operations count one each). */
  readonly accepted: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Answers that were not the expected status and Idempotent-Replayed value. */
  readonly unexpected: number;
  readonly unexpectedSample: readonly string[];
  /** Socket errors and timeouts. */
  readonly errors: number;
  readonly accounts: Readonly<Record<string, AccountTally>>;
  /** Server CPU seconds over the window (utime + stime of its process tree); NaN if unknown. */
  readonly serverCpuSeconds: number;
  /** This load process's own CPU seconds over the window, to tell a saturated generator. */
  readonly loadCpuSeconds: number;
  /** CPU seconds the rest of the machine used meanwhile (see CpuWindow): a shared machine's noise. */
  readonly otherCpuSeconds: number;
  /** Open loop: from each request's scheduled send time; closed loop: autocannon's (closed-loop) figures. */
  readonly latency: LatencySummary | null;
  /** Open loop: how late the generator sent, p99 ms (a loaded generator shows here, not in the server). */
  readonly sendLagP99Ms?: number;
  /** Open loop with keepTimeline: [scheduled epoch ms, latency ms, 1 if as expected else 0] per request. */
  readonly timeline?: ReadonlyArray<readonly [number, number, number]>;
  /** Batch: whether the route exists (false on 404/405), and the batch latency. */
  readonly batchAvailable?: boolean;
  readonly batchNote?: string;
  /** Flow: what was answered 201. */
  readonly flow?: FlowTally;
}

export interface PlannedRequest {
  readonly account: string;
  readonly key: string;
  readonly kind: "new" | "dup" | "replay" | "listed";
}

export class RequestPlan {
  private count = 0;
  private newKeys = 0;
  private latest: PlannedRequest | null = null;
  readonly sent = new Map<string, number>();
  private readonly spec: PlanSpec;
  private readonly keys: KeyMaker;

  constructor(spec: PlanSpec) {
    if (spec.accounts.length === 0) throw new Error("a plan needs at least one account");
    if (spec.mode === "list" && (spec.keys ?? []).length === 0) throw new Error("a list plan needs keys");
    this.spec = spec;
    this.keys = new KeyMaker(spec.keyKind ?? "counter", spec.keyPrefix);
  }

  next(): PlannedRequest {
    this.count += 1;
    const { spec } = this;
    if (spec.mode === "replay") {
      return { account: spec.accounts[0] as string, key: spec.replayKey ?? "", kind: "replay" };
    }
    if (spec.mode === "list") {
      const keys = spec.keys as readonly string[];
      return {
        account: spec.accounts[0] as string,
        key: keys[(this.count - 1) % keys.length] as string,
        kind: "listed",
      };
    }
    // The most recent new key, sent by whichever connection: often still in flight.
    if (spec.mode === "mix" && this.latest !== null && this.count % spec.dupEvery === 0) {
      return { ...this.latest, kind: "dup" };
    }
    const account =
      spec.accounts.length === 1
        ? (spec.accounts[0] as string)
        : (spec.accounts[Math.floor(Math.random() * spec.accounts.length)] as string);
    this.newKeys += 1;
    const planned: PlannedRequest = { account, key: this.keys.key(this.newKeys), kind: "new" };
    this.sent.set(account, (this.sent.get(account) ?? 0) + 1);
    this.latest = planned;
    return planned;
  }
}

const LATEST_SAMPLES = 3;
const MAX_SPREAD_SAMPLES = 32;

/** Answers seen, per account; bodies are kept raw and parsed only for the few samples. */
export class Tally {
  readonly statuses: Record<string, number> = {};
  responses = 0;
  acceptedOps = 0;
  unexpected = 0;
  readonly unexpectedSample: string[] = [];
  errors = 0;
  private readonly perAccount = new Map<
    string,
    { keys: Set<string>; latest: unknown[]; spread: unknown[]; stride: number }
  >();

  private readonly expect: Expectation | null;

  constructor(expect: Expectation | null) {
    this.expect = expect;
  }

  /** One HTTP answer to a single charge. */
  answer(planned: PlannedRequest, status: number, replayed: string | undefined, body: string): boolean {
    this.responses += 1;
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    const asExpected =
      this.expect === null ||
      (status === this.expect.status && (this.expect.replayed === null || replayed === this.expect.replayed));
    if (!asExpected) {
      this.unexpected += 1;
      if (this.unexpectedSample.length < 5) {
        this.unexpectedSample.push(`${status} replayed=${replayed ?? "-"} ${body.slice(0, 200)}`);
      }
    }
    if (status === 201) {
      this.acceptedOps += 1;
      // A replayed or listed key was stored before this load (and counted where it was).
      if (planned.kind !== "replay" && planned.kind !== "listed")
        this.accept(planned.account, planned.key, replayed === "true" ? null : body);
    }
    return asExpected;
  }

  /** A key answered 201; `body` (the charge, as JSON text or parsed) is a sampling candidate unless it was a replay. */
  accept(account: string, key: string, body: unknown): void {
    let entry = this.perAccount.get(account);
    if (entry === undefined) {
      entry = { keys: new Set(), latest: [], spread: [], stride: 1 };
      this.perAccount.set(account, entry);
    }
    if (entry.keys.has(key)) return;
    entry.keys.add(key);
    if (body === null) return;
    entry.latest.push(body);
    if (entry.latest.length > LATEST_SAMPLES) entry.latest.shift();
    // Every stride-th accepted charge; when full, every other one is dropped and the stride doubles,
    // so the samples stay spread over the whole run however long it is.
    if ((entry.keys.size - 1) % entry.stride === 0) {
      entry.spread.push(body);
      if (entry.spread.length >= MAX_SPREAD_SAMPLES) {
        entry.spread = entry.spread.filter((_, i) => i % 2 === 0);
        entry.stride *= 2;
      }
    }
  }

  /** The part of a LoadResult every load generator fills the same way: answers, accounts and CPU. */
  result(
    sent: ReadonlyMap<string, number>,
    spent: CpuSpent,
    errors: number = this.errors,
  ): Pick<
    LoadResult,
    | "responses"
    | "accepted"
    | "statuses"
    | "unexpected"
    | "unexpectedSample"
    | "errors"
    | "accounts"
    | "serverCpuSeconds"
    | "loadCpuSeconds"
    | "otherCpuSeconds"
  > {
    return {
      responses: this.responses,
      accepted: this.acceptedOps,
      statuses: this.statuses,
      unexpected: this.unexpected,
      unexpectedSample: this.unexpectedSample,
      errors,
      accounts: this.accounts(sent),
      serverCpuSeconds: spent.server,
      loadCpuSeconds: spent.load,
      otherCpuSeconds: spent.other,
    };
  }

  accounts(sent: ReadonlyMap<string, number>): Record<string, AccountTally> {
    const out: Record<string, AccountTally> = {};
    for (const account of new Set([...sent.keys(), ...this.perAccount.keys()])) {
      const entry = this.perAccount.get(account);
      const samples = [...(entry?.spread ?? []), ...(entry?.latest ?? [])].flatMap((body) => {
        const sample = chargeSample(body);
        return sample === null ? [] : [sample];
      });
      out[account] = { sent: sent.get(account) ?? 0, accepted: entry?.keys.size ?? 0, samples };
    }
    return out;
  }
}

function chargeSample(body: unknown): ChargeSample | null {
  let json: unknown = body;
  if (typeof body === "string") {
    try {
      json = JSON.parse(body);
    } catch {
      return null;
    }
  }
  if (typeof json !== "object" || json === null) return null;
  const { id, balance_after: balanceAfter, idempotency_key: key } = json as Record<string, unknown>;
  // The hop's answers are no charges: they have no balance.
  if (typeof id !== "string" || typeof balanceAfter !== "number" || typeof key !== "string") return null;
  return { id, balanceAfter, key };
}

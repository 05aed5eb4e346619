import type { MoneyCommand, OpenAccountInput } from "../domain/commands.ts";
import type { IfMatch } from "../domain/if-match.ts";

/** What a caller asks of an account object: validated input, never raw HTTP. */

export interface MoneyRequest {
  /** Unique per request a caller received; the caller sends the same one on each retried call. */
  readonly requestId: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  /** A digest of each top-level field of the body, to say which differ when the key is reused. */
  readonly fieldDigests?: Readonly<Record<string, string>>;
  readonly command: MoneyCommand;
}

/** What makes a request with an Idempotency-Key recordable: its key, and what makes a retry "the same request". */
export interface KeyedRequest {
  readonly requestId: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly fieldDigests?: Readonly<Record<string, string>>;
}

export interface OpenAccountRequest {
  readonly account: string;
  /** The tenant the account belongs to, stored when it is opened (events name it). */
  readonly tenant?: string;
  readonly input: OpenAccountInput;
  /** If-Match: the versions the caller expects the account to be at. */
  readonly ifMatch?: IfMatch | null;
  /** With an Idempotency-Key, the answer is recorded and replayed like a money request's. */
  readonly keyed?: KeyedRequest | null;
}

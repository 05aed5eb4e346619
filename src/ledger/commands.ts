import type { MoneyCommand, OpenAccountInput } from "../domain/commands.ts";

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

export interface OpenAccountRequest {
  readonly account: string;
  readonly input: OpenAccountInput;
}

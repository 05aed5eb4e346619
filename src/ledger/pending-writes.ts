import { MAX_PENDING_OPERATIONS, MAX_PENDING_WRITE_BYTES, MAX_PENDING_WRITES } from "../domain/limits.ts";
import { utf8Length } from "../lib/text.ts";

/**
 * What the writes waiting for an account object's next commit hold. A count
 * of writes alone does not bound memory: one batch may carry 1,000
 * operations and a megabyte, and the isolate may host other accounts. So
 * waiting writes are also bounded in operations and in bytes, and a write
 * that would take any of the three over its limit is refused (overloaded)
 * before it is queued.
 */
export class PendingWrites {
  private writes = 0;
  private operations = 0;
  private bytes = 0;

  /**
   * Counts a write of `requests` in, or answers null when it would take the
   * waiting writes over a limit. What it answers is given back to `release`
   * once the write is decided.
   */
  admit(requests: readonly unknown[]): { operations: number; bytes: number } | null {
    const held = { operations: requests.length, bytes: requestsBytes(requests) };
    if (
      this.writes + 1 > MAX_PENDING_WRITES ||
      this.operations + held.operations > MAX_PENDING_OPERATIONS ||
      this.bytes + held.bytes > MAX_PENDING_WRITE_BYTES
    ) {
      return null;
    }
    this.writes += 1;
    this.operations += held.operations;
    this.bytes += held.bytes;
    return held;
  }

  release(held: { operations: number; bytes: number }): void {
    this.writes -= 1;
    this.operations -= held.operations;
    this.bytes -= held.bytes;
  }
}

/**
 * The bytes a waiting request is counted as holding: the UTF-8 length of
 * its JSON, which grows with every field and string it carries (a batch
 * counts each of its requests).
 */
export function requestBytes(request: unknown): number {
  return utf8Length(JSON.stringify(request));
}

/**
 * The sum of requestBytes over `requests`, from one JSON text of them all:
 * it is theirs joined by commas in brackets, one byte each.
 */
function requestsBytes(requests: readonly unknown[]): number {
  return requests.length === 0 ? 0 : utf8Length(JSON.stringify(requests)) - (requests.length + 1);
}

/**
 * The Idempotency-Keys the load generators send. `counter` keys are
 * `<prefix>-<n>`, the form every scenario used first. `uuidv7` keys are
 * UUIDv7s made at the moment they are sent, as the typed client makes them
 * (their first 48 bits the time, so an archived one is found by its time);
 * `random` keys are UUIDv4-shaped, with no time in them, so an archived one
 * is found through the archive's filter. Both UUID kinds end in a 4-hex tag
 * of their job's prefix and an 8-hex counter, which keeps them unique and
 * lets the ledger check tell a key this run sent from any other.
 */
import { createHash, randomBytes } from "node:crypto";

export type KeyKind = "counter" | "uuidv7" | "random";

/** 16 bits of the prefix's SHA-256, as 4 hex digits. */
export function prefixTag(prefix: string): string {
  return createHash("sha256").update(prefix).digest("hex").slice(0, 4);
}

const UUID_TAIL = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-([0-9a-f]{4})[0-9a-f]{8}$/;

/** Makes the keys of one job: key n (from 1) of `kind` under `prefix`. */
export class KeyMaker {
  private readonly kind: KeyKind;
  private readonly prefix: string;
  private readonly tag: string;
  private pool = Buffer.alloc(0);
  private used = 0;

  constructor(kind: KeyKind, prefix: string) {
    this.kind = kind;
    this.prefix = prefix;
    this.tag = prefixTag(prefix);
  }

  key(n: number, nowMs: number = Date.now()): string {
    if (this.kind === "counter") return `${this.prefix}-${n}`;
    const random = this.randomHex(7);
    const variant = "89ab"[Number.parseInt(random.slice(6, 7), 16) & 3] as string;
    const tail = `${this.tag}${(n >>> 0).toString(16).padStart(8, "0")}`;
    if (this.kind === "random") {
      const more = this.randomHex(12);
      return `${more.slice(0, 8)}-${more.slice(8, 12)}-4${random.slice(0, 3)}-${variant}${random.slice(3, 6)}-${tail}`;
    }
    const time = Math.floor(nowMs).toString(16).padStart(12, "0");
    return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(0, 3)}-${variant}${random.slice(3, 6)}-${tail}`;
  }

  /** `digits` random hex digits, from a pool refilled 4 KiB at a time. */
  private randomHex(digits: number): string {
    const bytes = Math.ceil(digits / 2);
    if (this.used + bytes > this.pool.length) {
      this.pool = randomBytes(4096);
      this.used = 0;
    }
    const hex = this.pool.toString("hex", this.used, this.used + bytes).slice(0, digits);
    this.used += bytes;
    return hex;
  }
}

/** Whether `key` is one a job under `prefix` made (of any kind). */
export function madeUnder(key: string, prefix: string, tag: string = prefixTag(prefix)): boolean {
  if (key.startsWith(`${prefix}-`)) return true;
  return UUID_TAIL.exec(key)?.[1] === tag;
}

/**
 * The shapes of Idempotency-Key the run sends. Most operations let the client
 * make its UUIDv7, whose embedded time lets the ledger find the key by time
 * once its period is archived. A share get a key the ledger must find some
 * other way (its filter): a UUIDv4, which carries no time, or a UUIDv7 whose
 * time is false (an hour ahead, or two days behind, the decision).
 */
import { uuidV7 } from "../../src/client/uuid-v7.ts";
import type { Random } from "./random.ts";

export type KeyShape = "uuidv7" | "uuidv4" | "uuidv7-ahead" | "uuidv7-behind";

const HOUR_MS = 3_600_000;

/** A shape for the next operation: `untimedShare` of them without a true embedded time. */
export function pickKeyShape(random: Random, untimedShare: number): KeyShape {
  if (random() >= untimedShare) return "uuidv7";
  const roll = random();
  return roll < 0.5 ? "uuidv4" : roll < 0.75 ? "uuidv7-ahead" : "uuidv7-behind";
}

/** The key itself, or null to let the client make its own UUIDv7. */
export function makeKey(shape: KeyShape, nowMs: number = Date.now()): string | null {
  switch (shape) {
    case "uuidv7":
      return null;
    case "uuidv4":
      return crypto.randomUUID();
    case "uuidv7-ahead":
      return uuidV7(nowMs + HOUR_MS);
    case "uuidv7-behind":
      return uuidV7(nowMs - 48 * HOUR_MS);
  }
}

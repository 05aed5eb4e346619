import { describe, expect, it } from "vitest";
import { OutcomeUnknownError } from "../../../src/client/errors.ts";

describe("OutcomeUnknownError", () => {
  it("prints its duration in whole milliseconds and names the key", () => {
    const error = new OutcomeUnknownError("time_exhausted", {
      idempotencyKey: "order-7",
      attempts: 3,
      elapsedMs: 1234.5678,
      cause: new Error("timeout"),
    });
    expect(error.message).toBe(
      "no definite answer after 3 attempt(s) in 1235 ms: time_exhausted (Idempotency-Key order-7)",
    );
    expect(error.elapsedMs).toBe(1234.5678);
  });
});

import { describe, expect, it } from "vitest";
import { parseCommandMessage } from "../../../src/api/parse-command-message.ts";
import { commandMessage } from "../../../src/client/command-message.ts";

describe("commandMessage", () => {
  it("builds JSON text the consumer accepts, with a fresh key each time", () => {
    const a = commandMessage({
      tenant: "acme",
      account: "a1",
      operation: "charge",
      request: { amount: 5, currency: "USD" },
    });
    const b = commandMessage({
      tenant: "acme",
      account: "a1",
      operation: "charge",
      request: { amount: 5, currency: "USD" },
    });
    expect(a.contentType).toBe("text");
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
    const parsed = parseCommandMessage(a.body, (tenant) => tenant === "acme");
    expect(parsed.ok && parsed.value.checked.idempotencyKey).toBe(a.idempotencyKey);
  });

  it("keeps a key it is given, so a retry is the same command", () => {
    const built = commandMessage({
      tenant: "acme",
      account: "a1",
      operation: "refund",
      idempotencyKey: "refund-77",
      request: { charge: "ch_1" },
    });
    expect(JSON.parse(built.body)).toEqual({
      tenant: "acme",
      account: "a1",
      operation: "refund",
      idempotency_key: "refund-77",
      request: { charge: "ch_1" },
    });
  });
});

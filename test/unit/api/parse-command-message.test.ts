import { describe, expect, it } from "vitest";
import { parseCommandMessage } from "../../../src/api/parse-command-message.ts";
import { moneyFingerprint } from "../../../src/api/money-operation.ts";
import { MAX_BODY_BYTES, MAX_COMMAND_MESSAGE_BYTES } from "../../../src/domain/limits.ts";

const tenants = new Set(["acme"]);
const known = (tenant: string) => tenants.has(tenant);
const message = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    tenant: "acme",
    account: "a1",
    operation: "charge",
    idempotency_key: "k1",
    request: { amount: 100, currency: "USD" },
    ...fields,
  });

describe("parseCommandMessage", () => {
  it("reads a valid command with the HTTP route's fingerprint", () => {
    const parsed = parseCommandMessage(message(), known);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value).toMatchObject({ tenant: "acme", account: "a1", operation: "charge", sentKey: "k1" });
    expect(parsed.value.checked.idempotencyKey).toBe("k1");
    expect(parsed.value.checked.fingerprint).toBe(moneyFingerprint("charge", "a1", { amount: 100, currency: "USD" }));
    expect(parsed.value.checked.command).toEqual({ type: "charge", input: { amount: 100, currency: "USD" } });
  });

  it("reads the key's RFC 9651 form as the same key, and keeps the form sent", () => {
    const parsed = parseCommandMessage(message({ idempotency_key: '"k1"' }), known);
    expect(parsed.ok && parsed.value.checked.idempotencyKey).toBe("k1");
    expect(parsed.ok && parsed.value.sentKey).toBe('"k1"');
  });

  it("gives the same fingerprint whatever the order of the body's fields", () => {
    const a = parseCommandMessage(message({ request: { amount: 5, currency: "USD", description: "x" } }), known);
    const b = parseCommandMessage(message({ request: { description: "x", currency: "USD", amount: 5 } }), known);
    expect(a.ok && b.ok && a.value.checked.fingerprint === b.value.checked.fingerprint).toBe(true);
  });

  it("takes a message exactly at the size limit and refuses one byte more", () => {
    // The request at its own limit, and the message filled up to its limit with JSON whitespace.
    const request = { amount: 1, currency: "USD", description: "" };
    request.description = "d".repeat(MAX_BODY_BYTES - JSON.stringify(request).length);
    const text = message({ request });
    const at = `${text.slice(0, -1)}${" ".repeat(MAX_COMMAND_MESSAGE_BYTES - text.length)}}`;
    expect(at.length).toBe(MAX_COMMAND_MESSAGE_BYTES);
    // At the limit the size is fine (the description is then too long for its own field).
    expect(parseCommandMessage(at, known)).toMatchObject({ ok: false, error: { reason: "invalid_command" } });
    expect(parseCommandMessage(`${at} `, known)).toMatchObject({ ok: false, error: { reason: "too_large" } });
  });

  it("refuses a request over its route's body limit, as its HTTP twin would be refused, and takes one at it", () => {
    const sized = (bytes: number) => {
      const request = { amount: 1, currency: "USD", metadata: { k: "" } };
      const pad = bytes - JSON.stringify(request).length;
      return { ...request, metadata: { k: "v".repeat(pad) } };
    };
    const at = parseCommandMessage(message({ request: sized(MAX_BODY_BYTES) }), known);
    // At the limit the size is fine (the metadata value is then too long for its own field).
    expect(at).toMatchObject({ ok: false, error: { reason: "invalid_command" } });
    const over = parseCommandMessage(message({ request: sized(MAX_BODY_BYTES + 1) }), known);
    expect(over).toMatchObject({ ok: false, error: { reason: "too_large", errors: [{ field: "request" }] } });
  });

  it.each([
    ["a JSON object", { tenant: "acme" }, "not_text"],
    ["null", null, "not_text"],
    ["empty text", "", "invalid_json"],
    ["a key given twice", '{"tenant":"acme","tenant":"acme"}', "invalid_json"],
    ["a JSON array", "[]", "invalid_command"],
    ["an unknown tenant", message({ tenant: "globex" }), "unknown_tenant"],
    ["an invalid tenant id", message({ tenant: "Acme!" }), "invalid_command"],
    ["an invalid account", message({ account: "a/b" }), "invalid_command"],
    ["a float amount", message({ request: { amount: 1.5, currency: "USD" } }), "invalid_command"],
    [
      "an exponent amount",
      message({ request: { amount: 1e3, currency: "USD" } }).replace("1000", "1e3"),
      "invalid_command",
    ],
    ["a refund with no charge", message({ operation: "refund", request: { amount: 1 } }), "invalid_command"],
  ])("refuses %s (%s)", (_, body, reason) => {
    expect(parseCommandMessage(body, known)).toMatchObject({ ok: false, error: { reason } });
  });

  it("names each bad field, body fields under request", () => {
    const parsed = parseCommandMessage(message({ request: { amount: -1, currency: "usd", colour: "red" } }), known);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.errors.map((e) => e.field).sort()).toEqual(
      ["request.amount", "request.colour", "request.currency"].sort(),
    );
  });

  it("checks the tenant only once the envelope is whole, so a malformed message is never told a tenant exists", () => {
    const parsed = parseCommandMessage(message({ tenant: "globex", account: "" }), known);
    expect(parsed).toMatchObject({ ok: false, error: { reason: "invalid_command" } });
  });
});

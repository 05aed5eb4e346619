import { runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROBLEMS, type ProblemCode } from "../../src/domain/problems.ts";
import {
  BASE_URL,
  allEntries,
  expectProblem,
  fundedAccount,
  getAccount,
  ledgerStub,
  post,
  uniqueKey,
} from "../support/api.ts";
import { type FuzzRequest, bodiesArb, headersArb, pathsArb } from "../support/fuzz-requests.ts";
import { documentedCodes, documentedOperation } from "../support/openapi-codes.ts";
import { alarmOf, countRows, inLedger, printable } from "../support/storage.ts";

/**
 * Fuzzing the HTTP surface. Every request generated here is malformed in at
 * least one way chosen so that it must be refused (a wrong type, a bad
 * header, a wrong method, an unknown route...), and is otherwise aimed at a
 * real, funded account with valid everything else, so a check that let it
 * through would show up as money moved or a record written. Every answer
 * must be a 4xx problem+json whose code is in the catalogue with its
 * status (and, on a documented operation, in the document's enum for that
 * status), and the account must be exactly as it was.
 */

// ---------------------------------------------------------------------------
// Sending and checking

function chunked(bytes: Uint8Array, chunkSize: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

function send(request: FuzzRequest): Promise<Response> {
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.append(name, value);
  const { body } = request;
  let init: BodyInit | undefined;
  if (body?.transport === "text") init = body.text;
  else if (body?.transport === "bytes") init = body.bytes;
  else if (body?.transport === "stream") init = chunked(body.bytes, body.chunk);
  return exports.default.fetch(`${BASE_URL}${request.path}`, { method: request.method, headers, body: init });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Sends one fuzzed request and checks its answer, naming the request only in escaped ASCII. */
async function expectRefused(request: FuzzRequest): Promise<void> {
  const response = await send(request);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const code = isObject(body) && typeof body.code === "string" ? body.code : undefined;
  const known = code !== undefined && Object.hasOwn(PROBLEMS, code);
  // A request that reaches a documented operation must be answered with a code its document lists for the status.
  const operation = documentedOperation(request.method, new URL(`${BASE_URL}${request.path}`).pathname);
  const documented = operation === undefined ? [] : (documentedCodes(operation, response.status) ?? []);
  const undocumented =
    operation !== undefined && (code === undefined || !documented.includes(code))
      ? `${operation.operationId} documents [${documented.join(", ")}] for ${response.status}`
      : null;
  const seen = {
    request: `${printable(request.method)} ${printable(request.path, 120)} (${request.label})`,
    status: response.status,
    contentType: response.headers.get("content-type"),
    code: code === undefined ? `no code in ${printable(text, 120)}` : printable(code),
    bodyStatus: isObject(body) ? body.status : undefined,
    catalogStatus: known ? PROBLEMS[code as ProblemCode].status : undefined,
    replayed: response.headers.get("idempotent-replayed"),
    undocumented,
  };
  expect(seen).toEqual({
    request: seen.request,
    status: seen.status >= 400 && seen.status < 500 ? seen.status : "a 4xx status",
    contentType: "application/problem+json",
    code: known && request.codes.includes(code as ProblemCode) ? seen.code : `one of ${request.codes.join(", ")}`,
    bodyStatus: response.status,
    catalogStatus: response.status,
    replayed: null,
    undocumented: null,
  });
}

/** The target account's full observable state, and its storage's row counts and alarm. */
async function stateOf(account: string) {
  return {
    account: await getAccount(account),
    entries: await allEntries(account),
    rows: await inLedger(account, (storage) => ({
      keys: countRows(storage, "keys"),
      ledger: countRows(storage, "ledger"),
      refundTotals: countRows(storage, "refund_totals"),
      legacyRecords: countRows(storage, "idempotency_records"),
    })),
    alarm: await alarmOf(account),
  };
}

async function fuzz(name: string, arb: (account: string) => fc.Arbitrary<FuzzRequest>, numRuns: number) {
  const account = await fundedAccount(5000);
  const charge = await post(account, "charges", { amount: 1200, currency: "USD" });
  expect(charge.status).toBe(201);
  // The writes' events published now, so that the alarm cannot run on its own while the fuzz runs.
  await runDurableObjectAlarm(ledgerStub(account));
  const before = await stateOf(account);
  expect(before.rows).toEqual({ keys: 2, ledger: 2, refundTotals: 0, legacyRecords: 0 });
  await fc.assert(fc.asyncProperty(arb(account), expectRefused), { numRuns });
  expect(await stateOf(account), name).toEqual(before);
}

describe("fuzzing the HTTP surface: every malformed request is a catalogued 4xx and changes nothing", () => {
  it("malformed bodies on every route that takes one", async () => {
    await fuzz("bodies", bodiesArb, 200);
  }, 60_000);

  it("malformed headers: Idempotency-Key, Authorization, Content-Type and body size", async () => {
    await fuzz("headers", headersArb, 150);
  }, 60_000);

  it("malformed paths, methods, queries and ids", async () => {
    await fuzz("paths", pathsArb, 150);
  }, 60_000);
});

describe("Idempotency-Key characters the runtime does not strip", () => {
  // HTTP strips only spaces and tabs around a header value. These characters
  // survive into the value, so it is not a key of visible ASCII: it must be
  // refused, not trimmed into another key (here, one already used).
  it.each([
    ["a leading vertical tab", "\x0b{key}"],
    ["a trailing form feed", "{key}\x0c"],
    ["a leading no-break space", "\xa0{key}"],
    ["a vertical tab before a string item", '\x0b"{key}"'],
  ])("refuses a key with %s instead of replaying another key's response", async (_, template) => {
    const account = await fundedAccount(1000);
    const key = uniqueKey();
    const first = await post(account, "credits", { amount: 100, currency: "USD" }, key);
    expect(first.status).toBe(201);
    const before = await stateOf(account);

    const response = await post(account, "credits", { amount: 100, currency: "USD" }, template.replace("{key}", key));
    const replayed = response.headers.get("idempotent-replayed");
    await expectProblem(response, 400, "idempotency_key_invalid");
    expect(replayed).toBeNull();
    expect(await stateOf(account)).toEqual(before);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LetterToKeep } from "../../src/dead-letters/dead-letter-store.ts";
import type { DeadLetterView } from "../../src/domain/dead-letters.ts";
import {
  COMMAND_MAX_RETRIES,
  MAX_DEAD_LETTER_ERRORS_BYTES,
  MAX_STORED_DEAD_LETTERS_PER_TENANT,
} from "../../src/domain/limits.ts";
import { deadLetterStore } from "../../src/transport/dead-letter-client.ts";
import { call, expectProblem, json } from "../support/api.ts";
import { TEST_OPERATOR_KEYS } from "../support/keys.ts";
import { deliver, messageId, recordingQueues } from "../support/queues.ts";

/**
 * The dead-letter store's bounds, and the consumer when the store cannot
 * take a letter: the letter still reaches the dead-letter queue as it always
 * did, and a message with deliveries left comes back to be stored. In a file
 * of its own: storage is isolated per test file, and this one fills a
 * tenant's share of the store.
 */

const OPERATOR_KEY = TEST_OPERATOR_KEYS.oncall[0];
const LETTERS = "/v1/operator/dead-letters";

function letterOf(id: string, tenant: string | null, errors: LetterToKeep["errors"] = []): LetterToKeep {
  return { id, tenant, attempts: 1, reason: "invalid_json", errors, original: "{" };
}

async function stored(id: string): Promise<Response> {
  return call(`${LETTERS}/${encodeURIComponent(id)}`, { key: OPERATOR_KEY });
}

/** A store binding whose every call fails, as an unreachable object would. */
const unreachableStore = {
  getByName: () => ({ keep: () => Promise.reject(new Error("injected: the store could not be reached")) }),
} as unknown as Env["DEAD_LETTER_STORE"];

describe("the dead-letter store's bounds", () => {
  it(`keeps at most ${MAX_STORED_DEAD_LETTERS_PER_TENANT} letters of one tenant; past it a letter goes to the queue alone`, async () => {
    const store = deadLetterStore(env);
    for (let chunk = 0; chunk < MAX_STORED_DEAD_LETTERS_PER_TENANT / 1000; chunk += 1) {
      const letters = Array.from({ length: 1000 }, (_, i) => letterOf(`fill-${chunk}-${i}`, "globex"));
      expect(await store.keep(letters)).toEqual({ kept: 1000, duplicates: 0, refused: [] });
    }
    expect(await store.keep([letterOf("one-too-many", "globex")])).toEqual({
      kept: 0,
      duplicates: 0,
      refused: ["one-too-many"],
    });

    // Through the consumer: the letter is sent to the queue and acknowledged, as before the store existed.
    const { bindings, deadLetters } = recordingQueues();
    const id = messageId();
    const body = JSON.stringify({ tenant: "globex", account: "a", operation: "credit" });
    const outcome = await deliver([{ id, body }], bindings);
    expect(outcome.explicitAcks).toEqual([id]);
    expect(deadLetters.sent).toEqual([expect.objectContaining({ reason: "invalid_command", original: body })]);
    await expectProblem(await stored(id), 404, "dead_letter_not_found");

    // Another tenant's letters, and those of no known tenant, are still kept.
    const other = messageId();
    await deliver([{ id: other, body: "{" }], bindings);
    expect((await stored(other)).status).toBe(200);
  });

  it(`keeps a letter's errors within ${MAX_DEAD_LETTER_ERRORS_BYTES} bytes of JSON, whole errors from the first`, async () => {
    const errors = Array.from({ length: 100 }, (_, i) => ({ field: `f${i}`, message: "m".repeat(1000) }));
    await deadLetterStore(env).keep([letterOf("many-errors", null, errors)]);
    const letter = await json<DeadLetterView>(await stored("many-errors"));
    expect(new TextEncoder().encode(JSON.stringify(letter.errors)).byteLength).toBeLessThanOrEqual(
      MAX_DEAD_LETTER_ERRORS_BYTES,
    );
    expect(letter.errors.length).toBeGreaterThan(20);
    expect(letter.errors).toEqual(errors.slice(0, letter.errors.length));
  });
});

describe("the consumer when the store cannot be reached", () => {
  it("retries a message with deliveries left, sending nothing; on its last delivery it sends the letter anyway", async () => {
    const { bindings, deadLetters } = recordingQueues();
    const [early, last] = [messageId(), messageId()];
    const outcome = await deliver(
      [
        { id: early, body: "{" },
        { id: last, body: "{", attempts: COMMAND_MAX_RETRIES + 1 },
      ],
      { ...bindings, DEAD_LETTER_STORE: unreachableStore },
    );
    expect(outcome.retryMessages.map((m) => m.msgId)).toEqual([early]);
    expect(outcome.explicitAcks).toEqual([last]);
    expect(deadLetters.sent).toEqual([{ reason: "invalid_json", errors: [expect.anything()], original: "{" }]);

    // Its next delivery, with the store back, stores it and sends it.
    const next = await deliver([{ id: early, body: "{", attempts: 2 }], bindings);
    expect(next.explicitAcks).toEqual([early]);
    expect((await stored(early)).status).toBe(200);
    expect(deadLetters.sent).toHaveLength(2);
  });
});

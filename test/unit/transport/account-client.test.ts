import { describe, expect, it, vi } from "vitest";
import { OBJECT_CALL_BACKOFF_MS, OBJECT_CALL_MAX_ATTEMPTS } from "../../../src/domain/limits.ts";
import { callAccount } from "../../../src/transport/account-client.ts";
import type { Outcome } from "../../../src/contract/outcome.ts";

const OK: Outcome = { status: 201, body: '{"id":"ch_1"}', replayed: false };
const noSleep = () => Promise.resolve();

function marked(marks: { retryable?: boolean; overloaded?: boolean }): Error {
  return Object.assign(new Error("object call failed"), marks);
}

/** A call that throws each of `errors` in turn, then succeeds; counts its calls. */
function flaky(...errors: unknown[]) {
  const state = { calls: 0 };
  const call = () => {
    state.calls += 1;
    const attempt = state.calls;
    return Promise.resolve().then(() => {
      // Thrown as is: the client must cope with non-Error rejections too.
      if (attempt <= errors.length) throw errors[attempt - 1];
      return OK;
    });
  };
  return { state, call };
}

function codeOf(outcome: Outcome): unknown {
  return (JSON.parse(outcome.body) as { code?: unknown }).code;
}

describe("callAccount", () => {
  // The retry path logs each final failure; keep test output quiet.
  vi.spyOn(console, "error").mockImplementation(() => undefined);

  it("returns the first success without retrying", async () => {
    const { state, call } = flaky();
    expect(await callAccount(() => ({}) as never, call, noSleep)).toBe(OK);
    expect(state.calls).toBe(1);
  });

  it("retries a retryable error on a fresh stub, then succeeds", async () => {
    const { state, call } = flaky(marked({ retryable: true }));
    let stubs = 0;
    const getStub = () => {
      stubs += 1;
      return {} as never;
    };
    expect(await callAccount(getStub, call, noSleep)).toBe(OK);
    expect(state.calls).toBe(2);
    expect(stubs).toBe(2);
  });

  it("backs off between attempts, within the exponential bound", async () => {
    const delays: number[] = [];
    const sleep = (ms: number) => {
      delays.push(ms);
      return Promise.resolve();
    };
    const errors = Array.from({ length: OBJECT_CALL_MAX_ATTEMPTS }, () => marked({ retryable: true }));
    await callAccount(() => ({}) as never, flaky(...errors).call, sleep);
    expect(delays).toHaveLength(OBJECT_CALL_MAX_ATTEMPTS - 1);
    delays.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(OBJECT_CALL_BACKOFF_MS * 2 ** i);
    });
  });

  it("succeeds on the last allowed attempt", async () => {
    const errors = Array.from({ length: OBJECT_CALL_MAX_ATTEMPTS - 1 }, () => marked({ retryable: true }));
    const { state, call } = flaky(...errors);
    expect(await callAccount(() => ({}) as never, call, noSleep)).toBe(OK);
    expect(state.calls).toBe(OBJECT_CALL_MAX_ATTEMPTS);
  });

  it("gives up after OBJECT_CALL_MAX_ATTEMPTS retryable errors with a 500", async () => {
    const errors = Array.from({ length: OBJECT_CALL_MAX_ATTEMPTS + 5 }, () => marked({ retryable: true }));
    const { state, call } = flaky(...errors);
    const outcome = await callAccount(() => ({}) as never, call, noSleep);
    expect(state.calls).toBe(OBJECT_CALL_MAX_ATTEMPTS);
    expect(outcome.status).toBe(500);
    expect(codeOf(outcome)).toBe("internal_error");
  });

  it.each([
    ["retryable and overloaded", { retryable: true, overloaded: true }],
    ["overloaded", { overloaded: true }],
  ])("does not retry an error marked %s, and answers 503", async (_name, marks) => {
    const { state, call } = flaky(marked(marks));
    const outcome = await callAccount(() => ({}) as never, call, noSleep);
    expect(state.calls).toBe(1);
    expect(outcome.status).toBe(503);
    expect(codeOf(outcome)).toBe("overloaded");
  });

  it.each([
    ["a plain Error", new Error("boom")],
    ["an error marked not retryable", marked({ retryable: false })],
    ["a thrown string", "boom"],
    ["a thrown null", null],
  ])("does not retry %s, and answers 500", async (_name, error) => {
    const { state, call } = flaky(error);
    const outcome = await callAccount(() => ({}) as never, call, noSleep);
    expect(state.calls).toBe(1);
    expect(outcome.status).toBe(500);
    expect(codeOf(outcome)).toBe("internal_error");
  });
});

import { describe, expect, it } from "vitest";
import { EVENT_PUBLISH_DELAY_MS, EVENT_RETRY_DELAY_MS } from "../../../src/domain/limits.ts";
import { nextAlarmMs } from "../../../src/ledger/alarm-schedule.ts";

const NOW = 1_000_000;

describe("nextAlarmMs: the one schedule", () => {
  it("is null when no job has anything to do", () => {
    expect(nextAlarmMs({}, NOW)).toBeNull();
    expect(nextAlarmMs({ earliestExpiryMs: null, events: undefined, listed: true }, NOW)).toBeNull();
  });

  it("sweeps at the earliest record expiry, even one already past", () => {
    expect(nextAlarmMs({ earliestExpiryMs: NOW + 5 }, NOW)).toBe(NOW + 5);
    expect(nextAlarmMs({ earliestExpiryMs: NOW - 5 }, NOW)).toBe(NOW - 5);
  });

  it("publishes new events after a short delay, leftovers now, and retries a failed send later", () => {
    expect(nextAlarmMs({ events: "new" }, NOW)).toBe(NOW + EVENT_PUBLISH_DELAY_MS);
    expect(nextAlarmMs({ events: "pending" }, NOW)).toBe(NOW);
    expect(nextAlarmMs({ events: "failed" }, NOW)).toBe(NOW + EVENT_RETRY_DELAY_MS);
  });

  it("retries the directory listing while the account is unlisted", () => {
    expect(nextAlarmMs({ listed: false }, NOW)).toBe(NOW + EVENT_RETRY_DELAY_MS);
    expect(nextAlarmMs({ listed: true }, NOW)).toBeNull();
  });

  it("answers the earliest of every job's time", () => {
    const far = NOW + EVENT_RETRY_DELAY_MS * 10;
    expect(nextAlarmMs({ earliestExpiryMs: far, events: "failed", listed: false }, NOW)).toBe(
      NOW + EVENT_RETRY_DELAY_MS,
    );
    expect(nextAlarmMs({ earliestExpiryMs: far, events: "pending", listed: false }, NOW)).toBe(NOW);
    expect(nextAlarmMs({ earliestExpiryMs: NOW + 1, events: "new", listed: false }, NOW)).toBe(NOW + 1);
  });
});

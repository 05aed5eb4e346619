import { describe, expect, it } from "vitest";
import { makeKey, pickKeyShape } from "../../../../scripts/chaos/keys.ts";
import type { CloseOp } from "../../../../scripts/chaos/model.ts";
import { ArchiveTimeline } from "../../../../scripts/chaos/periods.ts";
import { seededRandom } from "../../../../scripts/chaos/random.ts";
import { embeddedTimeMs } from "../../../../src/domain/key-time.ts";

function close(account: string, sentMs: number, answeredMs: number, closed = true): CloseOp {
  return {
    account,
    key: `close-${sentMs}`,
    outcome: closed ? { kind: "closed", period: null } : { kind: "empty", lastSeq: 1 },
    calls: 1,
    attempts: 1,
    sentMs,
    answeredMs,
  };
}

describe("ArchiveTimeline", () => {
  const closes = [close("a", 1_000, 1_200), close("a", 5_000, 5_100, false), close("b", 2_000, 2_500)];
  const timeline = new ArchiveTimeline(closes, 65_000);

  it("counts a key as archived once a close sent after its decision was answered a window ago", () => {
    expect(timeline.archivedAt({ account: "a", decidedMs: 900 }, 1_200 + 65_000)).toBe(true);
    expect(timeline.archivedAt({ account: "a", decidedMs: 900 }, 1_200 + 64_999)).toBe(false);
  });

  it("does not count a key decided after every close, on another account, or before a close that closed nothing", () => {
    expect(timeline.archivedAt({ account: "a", decidedMs: 1_000 }, 1_000_000)).toBe(false);
    expect(timeline.archivedAt({ account: "c", decidedMs: 0 }, 1_000_000)).toBe(false);
    expect(timeline.closedOver({ account: "a", decidedMs: 4_000 })).toBe(false);
    expect(timeline.closedOver({ account: "b", decidedMs: 1_999 })).toBe(true);
    expect(timeline.closedOver({ account: "b" })).toBe(false);
  });

  it("asks the object's own state when it can, and falls back on the times when it cannot", () => {
    const named: CloseOp = {
      ...close("a", 1_000, 1_200),
      outcome: {
        kind: "closed",
        period: {
          id: 4,
          first_seq: 1,
          last_seq: 2,
          opening_balance: 0,
          closing_balance: 5,
          entry_count: 2,
          key_count: 2,
          sha256: null,
          previous_sha256: null,
          objects: [],
          state: "closing",
          created: "2026-12-07T00:00:00.000Z",
        },
      },
    };
    const asked: [string, number][] = [];
    const state = (answer: boolean | null) =>
      new ArchiveTimeline([named], 65_000, (account, id) => {
        asked.push([account, id]);
        return answer;
      });
    expect(state(true).archivedAt({ account: "a", decidedMs: 900 }, 1_300)).toBe(true);
    expect(state(false).archivedAt({ account: "a", decidedMs: 900 }, 1_000_000)).toBe(false);
    expect(state(null).archivedAt({ account: "a", decidedMs: 900 }, 1_200 + 65_000)).toBe(true);
    expect(asked).toEqual([
      ["a", 4],
      ["a", 4],
      ["a", 4],
    ]);
    expect(state(true).judgedBy).toBe("object files");
    expect(timeline.judgedBy).toBe("timing");
  });

  it("reads the closes live", () => {
    const live: CloseOp[] = [];
    const later = new ArchiveTimeline(live, 10);
    expect(later.closedOver({ account: "a", decidedMs: 0 })).toBe(false);
    live.push(close("a", 5, 6));
    expect(later.closedOver({ account: "a", decidedMs: 0 })).toBe(true);
  });
});

describe("key shapes", () => {
  it("leaves the client's UUIDv7 alone, and makes keys without a true time", () => {
    const now = Date.UTC(2026, 11, 7);
    expect(makeKey("uuidv7", now)).toBeNull();
    expect(embeddedTimeMs(makeKey("uuidv4", now) as string)).toBeNull();
    expect(embeddedTimeMs(makeKey("uuidv7-ahead", now) as string)).toBe(now + 3_600_000);
    expect(embeddedTimeMs(makeKey("uuidv7-behind", now) as string)).toBe(now - 48 * 3_600_000);
  });

  it("picks untimed shapes for about the share asked", () => {
    const random = seededRandom(7);
    const picks = Array.from({ length: 10_000 }, () => pickKeyShape(random, 0.2));
    const untimed = picks.filter((shape) => shape !== "uuidv7").length;
    expect(untimed).toBeGreaterThan(1_800);
    expect(untimed).toBeLessThan(2_200);
    expect(new Set(picks).size).toBe(4);
  });
});

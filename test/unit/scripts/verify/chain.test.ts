import { describe, expect, it } from "vitest";
import type { PeriodView } from "../../../../src/domain/views.ts";
import { sha256Hex } from "../../../../src/lib/sha256.ts";
import { exitCode, renderReport, verifyChain, type ChainInput } from "../../../../scripts/verify/chain.ts";
import { dataElementTexts } from "../../../../scripts/verify/ledger-read.ts";

/**
 * `npm run verify`'s checks on made-up ledgers: the chained sha256 as
 * docs/api.md defines it (computed here with the repository's own synchronous
 * SHA-256, not the Web Crypto the module uses), and the first period that
 * does not match named with why.
 */

const encoder = new TextEncoder();

function entryText(seq: number, amount: number, balance: number): string {
  return JSON.stringify({ id: `e${seq}`, seq, type: amount < 0 ? "charge" : "credit", amount, balance_after: balance });
}

/** Periods of `sizes` entries each (amounts 10, -1, -1, ...), all archived, then `open` entries; objects by name. */
function ledger(sizes: readonly number[], open = 0) {
  const entries: string[] = [];
  const objects = new Map<string, Uint8Array>();
  const periods: PeriodView[] = [];
  let balance = 0;
  let previous = "";
  const append = () => {
    const seq = entries.length + 1;
    const amount = seq === 1 ? 10 : -1;
    balance += amount;
    entries.push(entryText(seq, amount, balance));
  };
  for (const [i, size] of sizes.entries()) {
    const id = i + 1;
    const firstSeq = entries.length + 1;
    const opening = balance;
    for (let n = 0; n < size; n += 1) append();
    const lines = entries
      .slice(firstSeq - 1)
      .map((text) => `${text}\n`)
      .join("");
    const keys = ["a", "b"].map(
      (k) => `${JSON.stringify({ key: `${k}${id}`, status: 201, code: null, entry: null, decided: "t" })}\n`,
    );
    const files = { entries: encoder.encode(lines), keys: encoder.encode(keys.join("")) };
    for (const [kind, bytes] of Object.entries(files)) objects.set(`p${id}/${kind}`, bytes);
    const sha256 = sha256Hex(`${previous}\n${lines}`);
    periods.push({
      id,
      first_seq: firstSeq,
      last_seq: entries.length,
      opening_balance: opening,
      closing_balance: balance,
      entry_count: size,
      key_count: 2,
      sha256,
      previous_sha256: previous,
      objects: (["entries", "keys"] as const).map((kind) => ({
        name: `p${id}/${kind}`,
        kind,
        bytes: files[kind].length,
        sha256: sha256Hex(new TextDecoder().decode(files[kind])),
      })),
      state: "archived",
      created: "2026-12-07T00:00:00.000Z",
    });
    previous = sha256;
  }
  for (let n = 0; n < open; n += 1) append();
  const input: ChainInput = {
    periods,
    entries,
    account: { entry_count: entries.length, balance },
    readObject: (name) => Promise.resolve(objects.get(name) ?? null),
  };
  return { input, objects, periods, entries };
}

function kindsOf(report: Awaited<ReturnType<typeof verifyChain>>) {
  return report.mismatch?.problems.map((problem) => problem.kind);
}

describe("verifyChain", () => {
  it("recomputes each period's sha256 from the previous one and its entries' lines, and passes a ledger that matches", async () => {
    const { input, periods } = ledger([3, 2, 4], 2);
    const report = await verifyChain(input);
    expect(report).toEqual({
      periods: 3,
      archived: 3,
      entries: 11,
      openEntries: 2,
      balance: 10 - 10,
      lastSha256: periods[2]?.sha256,
      objects: { read: 6, bytes: expect.any(Number) },
      mismatch: null,
    });
    expect(exitCode(report)).toBe(0);
    expect(renderReport(report)).toMatch(/OK: every period matches$/);
    // Without a reader, no object is read.
    const { readObject: _, ...apiOnly } = input;
    expect((await verifyChain(apiOnly)).objects).toBeNull();
  });

  it("names the first period whose objects do not match: a flipped byte, a missing object, keys out of order", async () => {
    const flipped = ledger([2, 2, 2]);
    const bytes = flipped.objects.get("p2/entries") as Uint8Array;
    bytes[5] = (bytes[5] as number) ^ 1;
    const report = await verifyChain(flipped.input);
    expect(report.mismatch?.period).toBe(2);
    expect(kindsOf(report)).toEqual(["object", "object"]);
    expect(report.mismatch?.problems[0]?.detail).toMatch(/^p2\/entries has sha256 [0-9a-f]{64}, but the period lists/);
    expect(report.mismatch?.problems[1]?.detail).toMatch(
      /^its entries objects \(\d+ bytes\) differ from the entries API's lines \(\d+ bytes\) from byte 5$/,
    );
    expect(exitCode(report)).toBe(1);
    expect(renderReport(report)).toContain("MISMATCH: period 2 does not match (object)");

    const missing = ledger([2, 2]);
    missing.objects.delete("p1/keys");
    expect((await verifyChain(missing.input)).mismatch).toEqual({
      period: 1,
      problems: [{ kind: "object", detail: "p1/keys is not in the bucket" }],
    });

    const unordered = ledger([2, 2]);
    const keys = ["b2", "a2"].map((key) => JSON.stringify({ key, status: 201, code: null, entry: null, decided: "t" }));
    const text = encoder.encode(`${keys.join("\n")}\n`);
    unordered.objects.set("p2/keys", text);
    const period = unordered.periods[1] as PeriodView;
    const listed = period.objects.map((o) =>
      o.kind === "keys" ? { ...o, sha256: sha256Hex(new TextDecoder().decode(text)) } : o,
    );
    const result = await verifyChain({
      ...unordered.input,
      periods: [unordered.periods[0] as PeriodView, { ...period, objects: listed }],
    });
    expect(result.mismatch?.period).toBe(2);
    expect(result.mismatch?.problems.map((p) => p.detail)).toEqual(['p2/keys holds key "a2" after "b2": out of order']);
  });

  it("names the period of an entry whose text differs, by its chain, and the period an entry is missing from", async () => {
    const altered = ledger([2, 3, 2]);
    const entries = altered.entries.map((text, i) => (i === 3 ? text.replace('"id":"e4"', '"id":"E4"') : text));
    const report = await verifyChain({ ...altered.input, entries, readObject: undefined });
    expect(report.mismatch?.period).toBe(2);
    expect(kindsOf(report)).toEqual(["chain"]);
    expect(report.entries).toBe(2);

    const gap = ledger([2, 3, 2]);
    const withGap = gap.entries.filter((_, i) => i !== 5);
    const gapReport = await verifyChain({ ...gap.input, entries: withGap });
    expect(gapReport.mismatch?.period).toBe(3);
    expect(gapReport.mismatch?.problems[0]).toEqual({
      kind: "range",
      detail: "the entries API lists seq 7 where seq 6 was due",
    });
  });

  it("checks each period's range, balances and link to the period before", async () => {
    const { input, periods } = ledger([2, 2, 2], 1);
    const [p1, p2, p3] = periods as [PeriodView, PeriodView, PeriodView];
    const check = async (changed: PeriodView[]) => (await verifyChain({ ...input, periods: changed })).mismatch;

    expect(await check([p1, { ...p2, first_seq: 4, entry_count: 1 }, p3])).toMatchObject({
      period: 2,
      problems: [{ kind: "range", detail: "first_seq is 4, where 3 was due" }],
    });
    expect(await check([p1, { ...p2, opening_balance: 0 }, p3])).toEqual({
      period: 2,
      problems: [
        { kind: "balance", detail: "opening_balance is 0, but period 1 closed at 9" },
        // Walked from the opening it lists, its entries do not add up either.
        { kind: "balance", detail: "entry 3 has balance_after 8, but the sum is -1" },
        { kind: "balance", detail: "opening_balance 0 plus its entries' amounts is -2, but closing_balance is 7" },
      ],
    });
    expect(await check([p1, p2, { ...p3, closing_balance: 7 }])).toMatchObject({
      period: 3,
      problems: [
        { kind: "balance", detail: "opening_balance 7 plus its entries' amounts is 5, but closing_balance is 7" },
      ],
    });
    expect(await check([p1, p2, { ...p3, previous_sha256: p1.sha256 }])).toMatchObject({
      period: 3,
      problems: [{ kind: "link" }],
    });
    expect(await check([p1, p3])).toMatchObject({ period: 3, problems: [{ kind: "range" }, { kind: "range" }] });

    // A period still closing has no chain yet; the one after it cannot be archived.
    const closing = { ...p2, state: "closing" as const, sha256: null, previous_sha256: null, objects: [] };
    expect(await check([p1, closing])).toBeNull();
    expect(await check([p1, closing, p3])).toMatchObject({ period: 3, problems: [{ kind: "link" }] });
  });

  it("checks the open period's entries against the account", async () => {
    const { input } = ledger([2], 2);
    const report = await verifyChain({ ...input, account: { entry_count: 4, balance: 99 } });
    expect(report.mismatch).toEqual({
      period: null,
      problems: [{ kind: "balance", detail: "the entries sum to 7, but the account's balance is 99" }],
    });
    expect(renderReport(report)).toContain("MISMATCH: the open period does not match (balance)");
    expect((await verifyChain({ ...input, account: { entry_count: 5, balance: 7 } })).mismatch).toMatchObject({
      period: null,
      problems: [{ kind: "range", detail: "entry 5 is not listed: the entries API ends at seq 4" }],
    });
  });
});

describe("dataElementTexts", () => {
  it("gives each element of a page's data array exactly as served", () => {
    const elements = [
      '{"a":"x\\"]},[{"}',
      '{ "b" : [1, {"c":"\\\\"}] }',
      '"s"',
      "-1.5e3",
      "null",
      '{"u":"\u00e9\ud83d\udcb8"}',
    ];
    const body = `{ "has_more" : false , "other": {"data":[0]}, "data" : [ ${elements.join(" ,\n ")} ] }`;
    expect(dataElementTexts(body)).toEqual(elements);
    expect(dataElementTexts('{"data":[]}')).toEqual([]);
    expect(() => dataElementTexts('{"items":[]}')).toThrow("no data array");
  });
});

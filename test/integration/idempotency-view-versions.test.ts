import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { renderDecidedEntry, ENTRY_VIEW_VERSION } from "../../src/ledger/row-views.ts";
import { findEntryBySeq } from "../../src/ledger/ledger-store.ts";
import { CountedSql } from "../../src/ledger/sql.ts";
import { fundedAccount, ledgerStub, post, uniqueKey } from "../support/api.ts";

/**
 * A response that moved money is not stored: its key row names the view
 * version it was answered with, and every replay renders that version from
 * the entry. So the replay's bytes cannot drift when a later release shows
 * entries differently (it adds a version; old keys keep theirs).
 */
describe("replays rendered from their entries", () => {
  it("store no body, name their view version, and replay the original bytes", async () => {
    const account = await fundedAccount(1_000);
    const key = uniqueKey();
    const first = await post(account, "charges", { amount: 7, currency: "USD", metadata: { b: "2", a: "1" } }, key);
    const original = await first.text();
    const row = await runInDurableObject(ledgerStub(account), (_, state) =>
      state.storage.sql
        .exec<{ view: number; body: string | null; entry_seq: number }>(
          "SELECT view, body, entry_seq FROM keys WHERE key = ?",
          key,
        )
        .one(),
    );
    expect(row).toEqual({ view: ENTRY_VIEW_VERSION, body: null, entry_seq: 2 });
    // A refund moves amount_refunded on the charge; the charge's replay still shows what was answered.
    const chargeId = (JSON.parse(original) as { id: string }).id;
    expect((await post(account, "refunds", { charge: chargeId, amount: 3 })).status).toBe(201);
    const replay = await post(account, "charges", { amount: 7, currency: "USD", metadata: { b: "2", a: "1" } }, key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(original);
  });

  it("refuses to render a view version it does not know, rather than answer different bytes", async () => {
    const account = await fundedAccount(1_000);
    await runInDurableObject(ledgerStub(account), (_, state) => {
      const entry = findEntryBySeq(new CountedSql(state.storage.sql), 1);
      if (entry === null) throw new Error("no entry");
      expect(() => renderDecidedEntry(ENTRY_VIEW_VERSION + 1, entry, "USD")).toThrow(/view version/);
    });
  });
});

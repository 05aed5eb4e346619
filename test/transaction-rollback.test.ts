import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  allEntries,
  expectLedgerConsistent,
  expectProblem,
  fundedAccount,
  getAccount,
  ledgerStub,
  post,
  uniqueKey,
} from "./support/api.ts";

/**
 * Faults injected into real storage: a SQLite trigger makes the write of the
 * idempotency record fail after the ledger entry was written, inside the same
 * transaction. Everything must roll back, and a retry must apply once.
 */

function failRecordWrites(account: string) {
  return runInDurableObject(ledgerStub(account), (_instance, state) => {
    state.storage.sql.exec(
      "CREATE TRIGGER fail_record BEFORE INSERT ON idempotency_records BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    );
  });
}

function healRecordWrites(account: string) {
  return runInDurableObject(ledgerStub(account), (_instance, state) => {
    state.storage.sql.exec("DROP TRIGGER fail_record");
  });
}

describe("a fault inside the account's transaction", () => {
  it.each(["charges", "credits"] as const)(
    "rolls back a %s entry, answers 500, and a retry applies once",
    async (kind) => {
      // No records yet, so no alarm: the failed request's alarm must roll back too.
      const account = await fundedAccount(0, 1000);
      const before = await getAccount(account);
      const alarm = () => runInDurableObject(ledgerStub(account), (_i, state) => state.storage.getAlarm());
      expect(await alarm()).toBeNull();
      await failRecordWrites(account);

      const key = uniqueKey();
      const body = { amount: 250, currency: "USD" };
      const failed = await expectProblem(await post(account, kind, body, key), 500, "internal_error");
      expect(JSON.stringify(failed)).not.toContain("injected fault");
      expect(await getAccount(account)).toEqual(before);
      const traces = await runInDurableObject(ledgerStub(account), (_i, state) => ({
        records: state.storage.sql.exec("SELECT key FROM idempotency_records WHERE key = ?", key).toArray().length,
        entries: state.storage.sql.exec("SELECT id FROM entries WHERE idempotency_key = ?", key).toArray().length,
      }));
      expect(traces).toEqual({ records: 0, entries: 0 });
      expect(await alarm()).toBeNull();

      await healRecordWrites(account);
      const retry = await post(account, kind, body, key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get("idempotent-replayed")).toBe("false");
      const again = await post(account, kind, body, key);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect((await allEntries(account)).filter((entry) => entry.idempotency_key === key)).toHaveLength(1);
      expect(await alarm()).not.toBeNull();
      await expectLedgerConsistent(account);
    },
  );
});

import { describe, expect, it } from "vitest";
import { openAccount, post } from "../support/api.ts";
import { records } from "../support/storage.ts";

/**
 * Fingerprints pinned byte for byte. Each is the SHA-256 of
 * "POST\n<path>\n<canonical body>", written out here by hand: if the
 * pipeline's route, body or hashing ever changed by one byte, every retry in
 * flight across a deploy would meet a different fingerprint and get a 422.
 * The account names are fixed (they are part of the fingerprint), so each is
 * used by one test only in this file. Key rows store the first 128 bits
 * of a fingerprint (src/ledger/key-rows.ts), which is what is read back.
 */
const GOLDEN = [
  {
    account: "acct_1",
    kind: "charges",
    body: { currency: "USD", amount: 500 },
    fingerprint: "49d76140d61e7428ca2a5f5912a0dab82f0c1889b96f986115a174e3039369ce",
  },
  {
    account: "golden_credit",
    kind: "credits",
    // Key order and spacing do not count.
    body: '{ "metadata": {"b":"2","a":"1"}, "description":"top-up", "currency":"USD", "amount":10000 }',
    fingerprint: "21c9023694a3336b907a7bcd955151542b12f575c96fff965b90dfbf6ab27e34",
  },
  {
    account: "Shop-9",
    kind: "refunds",
    body: { charge: "ch_0123456789abcdef0123456789abcdef", amount: 250 },
    fingerprint: "0e1143d8543e960988be20c8f167556656b6bf8d56fea0cd06e9a4336f2e89f8",
  },
] as const;

describe("fingerprints", () => {
  it.each(GOLDEN)(
    "a $kind request on $account is fingerprinted as before",
    async ({ account, kind, body, fingerprint }) => {
      await openAccount(account);
      const response = await post(account, kind, body, `golden-${kind}`);
      expect(response.status).toBeLessThan(500);
      // A key row keeps the fingerprint's first 128 bits (32 hex): a change to those, too, would 422 a retry.
      expect((await records(account)).map((record) => record.fingerprint)).toEqual([fingerprint.slice(0, 32)]);
    },
  );
});

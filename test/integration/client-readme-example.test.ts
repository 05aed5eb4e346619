import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { chargeOnce } from "../../examples/charge-once.mjs";
import { expectLedgerConsistent, uniqueAccount } from "../support/api.ts";
import { DEV_API_KEY } from "../support/keys.ts";

/**
 * The README's client example, run as written inside a Worker: the global
 * fetch it uses is pointed at the Worker under test, addressed as
 * `wrangler dev` would be (the development key is honoured on loopback only).
 */
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

describe("the README's client example", () => {
  it("charges once, in a Worker", async () => {
    globalThis.fetch = (input, init) => exports.default.fetch(new Request(input, init));
    const account = uniqueAccount("readme");
    const said = await chargeOnce("http://127.0.0.1:8787", DEV_API_KEY, account);
    expect(said).toMatch(/^charged 5000 as ch_[0-9a-f]{32} \(replayed: false\)$/);
    const read = await fetch(`http://127.0.0.1:8787/v1/accounts/${account}`, {
      headers: { authorization: `Bearer ${DEV_API_KEY}` },
    });
    expect(await read.json()).toMatchObject({ balance: 5000, entry_count: 2 });
    await expectLedgerConsistent(account, "dev");
  });

  it("rethrows a 401 instead of reporting an outcome", async () => {
    globalThis.fetch = (input, init) => exports.default.fetch(new Request(input, init));
    await expect(chargeOnce("http://127.0.0.1:8787", "olk_not_a_key", uniqueAccount("readme"))).rejects.toMatchObject({
      name: "LedgerProblemError",
      status: 401,
    });
  });
});

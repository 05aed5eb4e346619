import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../src/domain/limits.ts";
import { allEntries, call, expectInvalid, fundedAccount, getAccount, json, post } from "../support/api.ts";
import { credit } from "../support/validation.ts";

/** Query parameters of the entry listing and of the other GET routes. */

describe("GET /v1/accounts/{account}/entries?limit=", () => {
  it(`defaults to ${DEFAULT_PAGE_SIZE} and honours 1 and ${MAX_PAGE_SIZE}`, async () => {
    const account = await fundedAccount(1);
    for (let i = 0; i < MAX_PAGE_SIZE; i += 1) {
      expect((await post(account, "credits", credit(1))).status).toBe(201);
    }
    const page = async (query: string) => {
      const response = await call(`/v1/accounts/${account}/entries${query}`);
      expect(response.status).toBe(200);
      return json<{ data: { seq: number }[]; has_more: boolean }>(response);
    };
    const byDefault = await page("");
    expect(byDefault.data.map((entry) => entry.seq)).toEqual(
      Array.from({ length: DEFAULT_PAGE_SIZE }, (_, i) => i + 1),
    );
    expect(byDefault.has_more).toBe(true);
    const one = await page("?limit=1");
    expect(one.data).toHaveLength(1);
    expect(one.has_more).toBe(true);
    const most = await page(`?limit=${MAX_PAGE_SIZE}`);
    expect(most.data).toHaveLength(MAX_PAGE_SIZE);
    expect(most.has_more).toBe(true);
    const rest = await page(
      `?limit=${MAX_PAGE_SIZE}&starting_after=${(await allEntries(account))[MAX_PAGE_SIZE - 1]?.id ?? ""}`,
    );
    expect(rest.data.map((entry) => entry.seq)).toEqual([MAX_PAGE_SIZE + 1]);
    expect(rest.has_more).toBe(false);
  });

  it("rejects an unknown query parameter on every other GET route too, and changes nothing", async () => {
    const account = await fundedAccount(1000);
    const charge = await json<{ id: string }>(await post(account, "charges", credit(5), "lookup-me"));
    for (const path of [
      `/v1/accounts/${account}?expand=all`,
      `/v1/accounts/${account}/charges/${charge.id}?expand=all`,
      `/v1/accounts/${account}/idempotency-keys/lookup-me?expand=all`,
    ]) {
      const errors = await expectInvalid(await call(path), ["expand"]);
      expect(errors[0]?.message).toBe("unknown field");
    }
    expect((await call(`/v1/accounts/${account}/idempotency-keys/lookup-me`)).status).toBe(200);
    expect((await getAccount(account)).entry_count).toBe(2);
  });

  it("rejects an unknown query parameter by name, as Stripe does", async () => {
    const account = await fundedAccount(1000);
    const errors = await expectInvalid(await call(`/v1/accounts/${account}/entries?limt=5`), ["limt"]);
    expect(errors[0]?.message).toBe("unknown field");
  });

  it.each(["limit=5&limit=abc", "limit=5&limit=5", "starting_after=x&starting_after=y"])(
    "rejects a parameter given twice (%s) instead of reading one of them",
    async (query) => {
      const account = await fundedAccount(1000);
      const name = query.split("=")[0] ?? "";
      await expectInvalid(await call(`/v1/accounts/${account}/entries?${query}`), [name]);
    },
  );

  it.each(["0", String(MAX_PAGE_SIZE + 1), "abc", "-1", "1.5", "", "1e2", "10000"])(
    "rejects limit=%s",
    async (limit) => {
      const account = await fundedAccount(1000);
      await expectInvalid(await call(`/v1/accounts/${account}/entries?limit=${limit}`), ["limit"]);
      expect((await getAccount(account)).entry_count).toBe(1);
    },
  );
});

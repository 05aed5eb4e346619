import {
  getAccountRoute,
  getChargeRoute,
  getPeriodRoute,
  getTransferRoute,
  listChangesRoute,
  listAccountsRoute,
  listEntriesRoute,
  listPeriodsRoute,
  lookupIdempotencyKeyRoute,
} from "../../api/routes.ts";
import { DEFAULT_PAGE_SIZE } from "../../domain/limits.ts";
import { failure, withFacts } from "../../contract/outcome.ts";
import { overQuota } from "../../transport/quota.ts";
import { listTenantAccounts } from "../../transport/tenant-accounts.ts";
import { accountHeaders } from "../headers.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/** The read-only routes. */
export function readRoutes(): RouteTable {
  return [
    [
      listAccountsRoute,
      handle(listAccountsRoute, async ({ tenant, query }, callAccountOf, env) => {
        const page = await listTenantAccounts(
          env.DIRECTORY,
          tenant,
          query.limit ?? DEFAULT_PAGE_SIZE,
          query.starting_after,
        );
        if (page === null) return failure({ code: "internal_error", cause: "object_call" });
        // Each account on the page is one object call, as reading it alone would be, and counts as one: the
        // request's own unit (which paid for the directory) covers the first, the rest are taken here.
        if (await overQuota(env.RATE_LIMITER, tenant, page.accounts.length - 1)) {
          return failure({ code: "rate_limited" });
        }
        const answers = await Promise.all(
          page.accounts.map((account) => callAccountOf(account, (s) => s.getAccount())),
        );
        const failed = answers.find((answer) => answer.status !== 200 && answer.status !== 404);
        if (failed !== undefined) return failed;
        // Each account's own JSON, spliced in as its object answered it.
        const bodies = answers.filter((answer) => answer.status === 200).map((answer) => answer.body);
        return withFacts(
          { status: 200, body: `{"data":[${bodies.join(",")}],"has_more":${String(page.hasMore)}}`, replayed: false },
          { code: null },
        );
      }),
    ],
    [
      getAccountRoute,
      handle(
        getAccountRoute,
        ({ params }, callAccountOf) => callAccountOf(params.account, (stub) => stub.getAccount()),
        {
          headers: accountHeaders,
        },
      ),
    ],
    [
      listChangesRoute,
      handle(listChangesRoute, ({ params, query }, callAccountOf) =>
        callAccountOf(params.account, (stub) =>
          stub.listChanges({ limit: query.limit ?? DEFAULT_PAGE_SIZE, startingAfter: query.starting_after }),
        ),
      ),
    ],
    [
      getChargeRoute,
      handle(getChargeRoute, ({ params }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.getCharge(params.id)),
      ),
    ],
    [
      getTransferRoute,
      handle(getTransferRoute, ({ params }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.getTransfer(params.transfer)),
      ),
    ],
    [
      listEntriesRoute,
      handle(listEntriesRoute, ({ params, query }, callAccountOf) =>
        callAccountOf(params.account, (stub) =>
          stub.listEntries({ limit: query.limit ?? DEFAULT_PAGE_SIZE, startingAfter: query.starting_after }),
        ),
      ),
    ],
    [
      listPeriodsRoute,
      handle(listPeriodsRoute, ({ params, query }, callAccountOf) =>
        callAccountOf(params.account, (stub) =>
          stub.listPeriods({ limit: query.limit ?? DEFAULT_PAGE_SIZE, startingAfter: query.starting_after }),
        ),
      ),
    ],
    [
      getPeriodRoute,
      handle(getPeriodRoute, ({ params }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.getPeriod(params.id)),
      ),
    ],
    [
      lookupIdempotencyKeyRoute,
      handle(lookupIdempotencyKeyRoute, ({ params }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.lookupIdempotencyKey(params.key)),
      ),
    ],
  ];
}

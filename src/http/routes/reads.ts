import {
  getAccountRoute,
  getChargeRoute,
  listChangesRoute,
  listEntriesRoute,
  lookupIdempotencyKeyRoute,
} from "../../api/routes.ts";
import { DEFAULT_PAGE_SIZE } from "../../domain/limits.ts";
import { accountHeaders } from "../headers.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/** The read-only routes. */
export function readRoutes(): RouteTable {
  return [
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
      listEntriesRoute,
      handle(listEntriesRoute, ({ params, query }, callAccountOf) =>
        callAccountOf(params.account, (stub) =>
          stub.listEntries({ limit: query.limit ?? DEFAULT_PAGE_SIZE, startingAfter: query.starting_after }),
        ),
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

import { MONEY_ROUTES, openAccountRoute, type RouteDef } from "../../api/routes.ts";
import type { MoneyCommand } from "../../domain/commands.ts";
import { ENTRY_TYPES } from "../../domain/entry-types.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/** The routes that change an account: opening it, and the money-moving POSTs. */
export function writeRoutes(): RouteTable {
  return [
    [
      openAccountRoute,
      handle(openAccountRoute, ({ params, body }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.openAccount({ account: params.account, input: body })),
      ),
    ],
    ...ENTRY_TYPES.map((type): [RouteDef, ReturnType<typeof handle>] => {
      const route = MONEY_ROUTES[type];
      return [
        route,
        // A fresh request id per HTTP request lets the object tell this request's own
        // outcome, met again on a retried call, from a replay of an earlier request.
        handle(route, ({ params, body, idempotencyKey, fingerprint, fieldDigests }, callAccountOf) => {
          const request = {
            requestId: crypto.randomUUID(),
            idempotencyKey,
            fingerprint,
            fieldDigests,
            command: { type, input: body } as MoneyCommand,
          };
          return callAccountOf(params.account, (stub) => stub.moveMoney(request));
        }),
      ];
    }),
  ];
}

import { closePeriodRoute, MONEY_ROUTES, openAccountRoute, type RouteDef } from "../../api/routes.ts";
import { MONEY_OPERATIONS, type MoneyCommand, type MoneyOperation } from "../../domain/commands.ts";
import { keyedRequest, moneyRequest, openAccountRequest } from "../../contract/requests.ts";
import { accountHeaders, chargeHeaders, periodHeaders, transferHeaders } from "../headers.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/** The headers a money operation's answer gets: where what it created can be read, if anywhere. */
const CREATED_HEADERS: Readonly<Record<MoneyOperation, typeof chargeHeaders | undefined>> = {
  credit: undefined,
  charge: chargeHeaders,
  refund: undefined,
  transfer: transferHeaders,
};

/** The routes that change an account: opening it, the money-moving POSTs, and closing a period. */
export function writeRoutes(): RouteTable {
  return [
    [
      openAccountRoute,
      handle(
        openAccountRoute,
        ({ tenant, origin, params, body, keyed, ifMatch }, callAccountOf) => {
          const request = openAccountRequest(
            params.account,
            tenant,
            body,
            ifMatch,
            keyed === null ? null : keyedRequest(crypto.randomUUID(), keyed, origin),
            origin,
          );
          return callAccountOf(params.account, (stub) => stub.openAccount(request));
        },
        { headers: accountHeaders, pinsTenant: true },
      ),
    ],
    ...MONEY_OPERATIONS.map((type): [RouteDef, ReturnType<typeof handle>] => {
      const route = MONEY_ROUTES[type];
      return [
        route,
        // A fresh request id per HTTP request lets the object tell this request's own
        // outcome, met again on a retried call, from a replay of an earlier request.
        handle(
          route,
          ({ origin, params, body, keyed }, callAccountOf) => {
            if (keyed === null) throw new Error("invariant: a money route requires an Idempotency-Key");
            const request = moneyRequest(crypto.randomUUID(), keyed, { type, input: body } as MoneyCommand, origin);
            return callAccountOf(params.account, (stub) => stub.moveMoney(request));
          },
          { headers: CREATED_HEADERS[type], operation: type },
        ),
      ];
    }),
    [
      closePeriodRoute,
      handle(
        closePeriodRoute,
        ({ origin, params, keyed }, callAccountOf) => {
          if (keyed === null) throw new Error("invariant: closing a period requires an Idempotency-Key");
          // The body is `{}` today: it counts only in the fingerprint, so a retry with other options is a reuse.
          const request = keyedRequest(crypto.randomUUID(), keyed, origin);
          return callAccountOf(params.account, (stub) => stub.closePeriod(request));
        },
        { headers: periodHeaders },
      ),
    ],
  ];
}

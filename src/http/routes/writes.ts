import { MONEY_ROUTES, openAccountRoute, type RouteDef } from "../../api/routes.ts";
import type { MoneyCommand } from "../../domain/commands.ts";
import { ENTRY_TYPES } from "../../domain/entry-types.ts";
import { OBJECT_INTERFACE_VERSION, toWire } from "../../contract/interface-version.ts";
import { accountHeaders, chargeHeaders } from "../headers.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/** The routes that change an account: opening it, and the money-moving POSTs. */
export function writeRoutes(): RouteTable {
  return [
    [
      openAccountRoute,
      handle(
        openAccountRoute,
        ({ tenant, origin, params, body, keyed, ifMatch }, callAccountOf) => {
          const request = {
            account: params.account,
            tenant,
            origin,
            interfaceVersion: OBJECT_INTERFACE_VERSION,
            input: body,
            ifMatch,
            keyed: keyed === null ? null : { requestId: crypto.randomUUID(), ...keyed, origin },
          };
          return callAccountOf(params.account, (stub) => stub.openAccount(request));
        },
        { headers: accountHeaders, pinsTenant: true },
      ),
    ],
    ...ENTRY_TYPES.map((type): [RouteDef, ReturnType<typeof handle>] => {
      const route = MONEY_ROUTES[type];
      return [
        route,
        // A fresh request id per HTTP request lets the object tell this request's own
        // outcome, met again on a retried call, from a replay of an earlier request.
        handle(
          route,
          ({ origin, params, body, keyed }, callAccountOf) => {
            if (keyed === null) throw new Error("invariant: a money route requires an Idempotency-Key");
            const request = {
              requestId: crypto.randomUUID(),
              ...keyed,
              command: toWire({ type, input: body } as MoneyCommand),
              origin,
              interfaceVersion: OBJECT_INTERFACE_VERSION,
            };
            return callAccountOf(params.account, (stub) => stub.moveMoney(request));
          },
          type === "charge" ? { headers: chargeHeaders, operation: type } : { operation: type },
        ),
      ];
    }),
  ];
}

import {
  captureHoldRoute,
  getHoldRoute,
  listHoldsRoute,
  placeHoldRoute,
  voidHoldRoute,
} from "../../api/hold-routes.ts";
import { moneyRequest } from "../../contract/requests.ts";
import { DEFAULT_PAGE_SIZE } from "../../domain/limits.ts";
import { holdHeaders } from "../headers.ts";
import { handle } from "../pipeline.ts";
import type { RouteTable } from "./route-table.ts";

/**
 * The routes of holds. Placing, capturing and voiding are money requests
 * like a charge: the same door, the same decision under the key.
 */
export function holdRoutes(): RouteTable {
  return [
    [
      placeHoldRoute,
      handle(
        placeHoldRoute,
        ({ origin, params, body, keyed }, callAccountOf) => {
          if (keyed === null) throw new Error("invariant: placing a hold requires an Idempotency-Key");
          const request = moneyRequest(crypto.randomUUID(), keyed, { type: "hold", input: body }, origin);
          return callAccountOf(params.account, (stub) => stub.moveMoney(request));
        },
        { headers: holdHeaders, operation: "hold" },
      ),
    ],
    [
      captureHoldRoute,
      handle(
        captureHoldRoute,
        ({ origin, params, body, keyed }, callAccountOf) => {
          if (keyed === null) throw new Error("invariant: a capture requires an Idempotency-Key");
          const input = { ...body, hold: params.hold };
          const request = moneyRequest(crypto.randomUUID(), keyed, { type: "capture", input }, origin);
          return callAccountOf(params.account, (stub) => stub.moveMoney(request));
        },
        { headers: holdHeaders, operation: "capture" },
      ),
    ],
    [
      voidHoldRoute,
      handle(
        voidHoldRoute,
        ({ origin, params, keyed }, callAccountOf) => {
          if (keyed === null) throw new Error("invariant: a void requires an Idempotency-Key");
          // The body is `{}` today: it counts only in the fingerprint, so a retry with other options is a reuse.
          const input = { hold: params.hold };
          const request = moneyRequest(crypto.randomUUID(), keyed, { type: "void", input }, origin);
          return callAccountOf(params.account, (stub) => stub.moveMoney(request));
        },
        { operation: "void" },
      ),
    ],
    [
      listHoldsRoute,
      handle(listHoldsRoute, ({ params, query }, callAccountOf) =>
        callAccountOf(params.account, (stub) =>
          stub.listHolds({ limit: query.limit ?? DEFAULT_PAGE_SIZE, startingAfter: query.starting_after }),
        ),
      ),
    ],
    [
      getHoldRoute,
      handle(getHoldRoute, ({ params }, callAccountOf) =>
        callAccountOf(params.account, (stub) => stub.getHold(params.hold)),
      ),
    ],
  ];
}

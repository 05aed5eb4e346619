import type { Handler } from "hono";
import type { RouteDef } from "../../api/routes.ts";
import type { AppEnv } from "../pipeline.ts";

/** Routes with their handlers, as a route module hands them to the app. */
export type RouteTable = ReadonlyArray<readonly [RouteDef, Handler<AppEnv>]>;

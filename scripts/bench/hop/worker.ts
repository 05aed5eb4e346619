/**
 * The yardstick every project row is compared with: the Worker -> Durable
 * Object hop and nothing else. A minimal Hono route parses the JSON body and
 * makes one no-op RPC call into a SQLite-backed object, as the project's
 * charge route does before any of its own work. Bundled and served only by
 * the benchmark (scripts/bench/bundle.ts), never part of the production Worker.
 */
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

export class HopObject extends DurableObject {
  noop(): { ok: true } {
    return { ok: true };
  }
}

/** The binding, typed by hand: scripts are checked with Node's types, not the Workers runtime's. */
interface HopNamespace {
  idFromName(name: string): HopId;
  get(id: HopId): { noop(): Promise<{ ok: true }> };
}
declare const hopId: unique symbol;
type HopId = { readonly [hopId]: true };

const app = new Hono<{ Bindings: { HOP: HopNamespace } }>();

app.post("/v1/accounts/:account/charges", async (c) => {
  const body: unknown = await c.req.json();
  if (typeof body !== "object" || body === null || !("amount" in body) || !Number.isInteger(body.amount)) {
    return c.json({ error: "bad request" }, 400);
  }
  const account = c.req.param("account");
  await c.env.HOP.get(c.env.HOP.idFromName(account)).noop();
  return c.json({ id: "ch_hop", account, amount: body.amount, replayed: false }, 201);
});

export default app;

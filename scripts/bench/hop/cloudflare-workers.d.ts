/**
 * The one export of the Workers runtime module that the hop Worker uses.
 * Scripts are type-checked with Node's types (tsconfig.node.json), where the
 * full Workers declarations would clash; Wrangler's bundler resolves the
 * real module.
 */
declare module "cloudflare:workers" {
  export abstract class DurableObject<Env = unknown> {
    protected readonly ctx: unknown;
    protected readonly env: Env;
    constructor(ctx: unknown, env: Env);
  }
}

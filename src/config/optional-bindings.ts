/**
 * The bindings a deployer may remove from wrangler.toml (docs/queues.md,
 * docs/operations.md). The generated Env declares every binding the file
 * has as present; read through here, each is what it may be at run time.
 */
export interface OptionalBindings {
  readonly RESULTS?: Queue;
  readonly EVENTS?: Queue;
  readonly DEAD_LETTERS?: Queue;
  readonly COMMANDS?: Queue;
  readonly DIRECTORY?: Env["DIRECTORY"];
}

export function optionalBindings(env: Env): OptionalBindings {
  return env;
}

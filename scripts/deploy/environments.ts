/**
 * The Wrangler environments beside production (wrangler.toml's top level):
 * each must be a Worker of its own that reads the same bindings and shares
 * no queue, bucket, object namespace or other store with production, or two
 * environments in one Cloudflare account would read and write each other's
 * messages and money. `npm run check:deploy` checks every environment with
 * this, from Wrangler's own reading of the config.
 * No Node APIs: the tests run it in workerd.
 */

/** One binding as Wrangler resolves it (`type` and its resource's fields). */
export type BindingFacts = Readonly<Record<string, unknown>> & { readonly type: string };

export interface QueueConsumerFacts {
  readonly queue: string;
  readonly dead_letter_queue?: string | undefined;
  readonly max_retries?: number | undefined;
  readonly max_batch_size?: number | undefined;
  readonly max_batch_timeout?: number | undefined;
}

export interface EnvironmentFacts {
  /** The environment's name; "" for production, the top level. */
  readonly environment: string;
  readonly workerName: string;
  readonly bindings: Readonly<Record<string, BindingFacts>>;
  readonly consumers: readonly QueueConsumerFacts[];
}

/** What an environment would share with another, or null for a binding that holds nothing of its own. */
export function resourceOf(binding: BindingFacts, workerName: string): string | null {
  const field = (name: string): string | undefined => {
    const value = binding[name];
    return typeof value === "string" ? value : undefined;
  };
  switch (binding.type) {
    case "queue":
      return `queue ${field("queue_name") ?? ""}`;
    case "r2_bucket":
      return `R2 bucket ${field("bucket_name") ?? ""}${field("jurisdiction") === undefined ? "" : ` (${field("jurisdiction") ?? ""})`}`;
    case "durable_object_namespace":
      // Without script_name, the class is the environment's own Worker's: its own namespace.
      return `Durable Object namespace ${field("script_name") ?? workerName}.${field("class_name") ?? ""}`;
    case "kv_namespace":
      return `KV namespace ${field("id") ?? ""}`;
    case "d1":
      return `D1 database ${field("database_id") ?? ""}`;
    case "analytics_engine":
      return `Analytics Engine dataset ${field("dataset") ?? ""}`;
    case "ratelimit":
      return `rate-limit namespace ${field("namespace_id") ?? ""}`;
    default:
      return null;
  }
}

/** Each resource an environment uses, and what of it uses it. */
function usedResources(facts: EnvironmentFacts): Map<string, string[]> {
  const resources = new Map<string, string[]>();
  const use = (resource: string, user: string) => resources.set(resource, [...(resources.get(resource) ?? []), user]);
  for (const [name, binding] of Object.entries(facts.bindings)) {
    const resource = resourceOf(binding, facts.workerName);
    if (resource !== null) use(resource, `binding ${name}`);
  }
  for (const consumer of facts.consumers) {
    use(`queue ${consumer.queue}`, "queue consumer");
    if (consumer.dead_letter_queue !== undefined) use(`queue ${consumer.dead_letter_queue}`, "dead-letter queue");
  }
  return resources;
}

/**
 * Why `other` is not a safe sibling of `production`: every problem, one
 * sentence each; empty when it is.
 */
export function environmentProblems(production: EnvironmentFacts, other: EnvironmentFacts): string[] {
  const env = `env.${other.environment}`;
  const problems: string[] = [];
  if (other.workerName === production.workerName) {
    problems.push(
      `${env} deploys to production's Worker name ${JSON.stringify(production.workerName)}; give it its own name`,
    );
  }
  for (const [name, binding] of Object.entries(production.bindings)) {
    const mine = other.bindings[name];
    if (mine === undefined) {
      problems.push(
        `${env} has no binding ${name}, which production has (bindings are not inherited): repeat it there`,
      );
    } else if (mine.type !== binding.type) {
      problems.push(`${env} binds ${name} as ${mine.type}, production as ${binding.type}`);
    }
  }
  const theirs = usedResources(production);
  for (const [resource, users] of usedResources(other)) {
    const shared = theirs.get(resource);
    if (shared !== undefined) {
      problems.push(
        `${env} shares production's ${resource} (its ${users.join(", ")}; production's ${shared.join(", ")}): give it its own`,
      );
    }
  }
  if (other.consumers.length !== production.consumers.length) {
    problems.push(
      `${env} consumes ${other.consumers.length} queue(s), production ${production.consumers.length}: the same commands queue setup, with names of its own`,
    );
  }
  production.consumers.forEach((theirConsumer, i) => {
    const mine = other.consumers[i];
    if (mine === undefined) return;
    for (const setting of ["max_retries", "max_batch_size", "max_batch_timeout"] as const) {
      if (mine[setting] !== theirConsumer[setting]) {
        problems.push(
          `${env}'s consumer of ${mine.queue} has ${setting} ${String(mine[setting])}, production's ${String(theirConsumer[setting])}: it must behave as production does`,
        );
      }
    }
    if ((mine.dead_letter_queue === undefined) !== (theirConsumer.dead_letter_queue === undefined)) {
      problems.push(
        `${env}'s consumer of ${mine.queue} ${mine.dead_letter_queue === undefined ? "has no" : "has a"} dead-letter queue, unlike production's`,
      );
    }
  });
  return problems;
}

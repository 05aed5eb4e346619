import { describe, expect, it } from "vitest";
import { environmentProblems, resourceOf, type EnvironmentFacts } from "../../../../scripts/deploy/environments.ts";

/** `npm run check:deploy`: every environment beside production is a Worker of its own that shares nothing with it. */

const consumer = {
  queue: "onceledger-commands",
  dead_letter_queue: "onceledger-commands-dead",
  max_retries: 10,
  max_batch_size: 100,
  max_batch_timeout: 1,
};

/** Production as wrangler.toml has it (Wrangler's resolved bindings). */
const PRODUCTION: EnvironmentFacts = {
  environment: "",
  workerName: "onceledger",
  bindings: {
    ACCOUNTS: { type: "durable_object_namespace", class_name: "AccountLedger" },
    DIRECTORY: { type: "durable_object_namespace", class_name: "TenantDirectory" },
    DEAD_LETTERS: { type: "queue", queue_name: "onceledger-commands-dead" },
    RESULTS: { type: "queue", queue_name: "onceledger-results" },
    EVENTS: { type: "queue", queue_name: "onceledger-events" },
    COMMANDS: { type: "queue", queue_name: "onceledger-commands" },
    ARCHIVE: { type: "r2_bucket", bucket_name: "onceledger-archive" },
  },
  consumers: [consumer],
};

/** A staging environment with names of its own throughout. */
const STAGING: EnvironmentFacts = {
  environment: "staging",
  workerName: "onceledger-staging",
  bindings: {
    ACCOUNTS: { type: "durable_object_namespace", class_name: "AccountLedger" },
    DIRECTORY: { type: "durable_object_namespace", class_name: "TenantDirectory" },
    DEAD_LETTERS: { type: "queue", queue_name: "onceledger-staging-commands-dead" },
    RESULTS: { type: "queue", queue_name: "onceledger-staging-results" },
    EVENTS: { type: "queue", queue_name: "onceledger-staging-events" },
    COMMANDS: { type: "queue", queue_name: "onceledger-staging-commands" },
    ARCHIVE: { type: "r2_bucket", bucket_name: "onceledger-staging-archive" },
  },
  consumers: [
    { ...consumer, queue: "onceledger-staging-commands", dead_letter_queue: "onceledger-staging-commands-dead" },
  ],
};

const withBindings = (facts: EnvironmentFacts, bindings: EnvironmentFacts["bindings"]): EnvironmentFacts => ({
  ...facts,
  bindings: { ...facts.bindings, ...bindings },
});

describe("environmentProblems", () => {
  it("passes an environment with its own Worker, objects, queues and bucket", () => {
    expect(environmentProblems(PRODUCTION, STAGING)).toEqual([]);
  });

  it("refuses production's Worker name", () => {
    expect(environmentProblems(PRODUCTION, { ...STAGING, workerName: "onceledger" })).toEqual([
      'env.staging deploys to production\'s Worker name "onceledger"; give it its own name',
      // Same Worker, so the same object namespaces too.
      "env.staging shares production's Durable Object namespace onceledger.AccountLedger (its binding ACCOUNTS; production's binding ACCOUNTS): give it its own",
      "env.staging shares production's Durable Object namespace onceledger.TenantDirectory (its binding DIRECTORY; production's binding DIRECTORY): give it its own",
    ]);
  });

  it("refuses a binding production has and the environment lacks, or binds as something else", () => {
    const { ARCHIVE: _, ...rest } = STAGING.bindings;
    expect(environmentProblems(PRODUCTION, { ...STAGING, bindings: rest })).toEqual([
      "env.staging has no binding ARCHIVE, which production has (bindings are not inherited): repeat it there",
    ]);
    expect(
      environmentProblems(
        PRODUCTION,
        withBindings(STAGING, { RESULTS: { type: "r2_bucket", bucket_name: "x-results" } }),
      ),
    ).toEqual(["env.staging binds RESULTS as r2_bucket, production as queue"]);
  });

  it.each([
    ["a queue", { RESULTS: { type: "queue", queue_name: "onceledger-results" } }, "queue onceledger-results"],
    [
      "the bucket",
      { ARCHIVE: { type: "r2_bucket", bucket_name: "onceledger-archive" } },
      "R2 bucket onceledger-archive",
    ],
    [
      "an object namespace, through script_name",
      { ACCOUNTS: { type: "durable_object_namespace", class_name: "AccountLedger", script_name: "onceledger" } },
      "Durable Object namespace onceledger.AccountLedger",
    ],
  ] as const)("refuses %s shared with production", (_, bindings, resource) => {
    const problems = environmentProblems(PRODUCTION, withBindings(STAGING, bindings));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`shares production's ${resource} (its binding`);
  });

  it("refuses a consumer of production's commands queue, or of its dead letters, or set up otherwise", () => {
    expect(environmentProblems(PRODUCTION, { ...STAGING, consumers: [consumer] })).toEqual([
      "env.staging shares production's queue onceledger-commands (its queue consumer; production's binding COMMANDS, queue consumer): give it its own",
      "env.staging shares production's queue onceledger-commands-dead (its dead-letter queue; production's binding DEAD_LETTERS, dead-letter queue): give it its own",
    ]);
    const mine = STAGING.consumers[0] ?? expect.fail("no consumer");
    expect(environmentProblems(PRODUCTION, { ...STAGING, consumers: [{ ...mine, max_retries: 3 }] })).toEqual([
      "env.staging's consumer of onceledger-staging-commands has max_retries 3, production's 10: it must behave as production does",
    ]);
    expect(environmentProblems(PRODUCTION, { ...STAGING, consumers: [] })).toEqual([
      "env.staging consumes 0 queue(s), production 1: the same commands queue setup, with names of its own",
    ]);
    expect(
      environmentProblems(PRODUCTION, { ...STAGING, consumers: [{ ...mine, dead_letter_queue: undefined }] }),
    ).toEqual(["env.staging's consumer of onceledger-staging-commands has no dead-letter queue, unlike production's"]);
  });
});

describe("resourceOf", () => {
  it("names what a binding would share, and nothing for a binding that holds nothing", () => {
    expect(resourceOf({ type: "r2_bucket", bucket_name: "b-eu", jurisdiction: "eu" }, "w")).toBe("R2 bucket b-eu (eu)");
    expect(resourceOf({ type: "durable_object_namespace", class_name: "C" }, "w")).toBe("Durable Object namespace w.C");
    expect(resourceOf({ type: "analytics_engine", dataset: "onceledger" }, "w")).toBe(
      "Analytics Engine dataset onceledger",
    );
    expect(resourceOf({ type: "ratelimit", namespace_id: "1001" }, "w")).toBe("rate-limit namespace 1001");
    expect(resourceOf({ type: "version_metadata" }, "w")).toBeNull();
  });
});

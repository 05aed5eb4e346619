import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DEV_API_KEY, TEST_API_KEYS, TEST_CORS_ORIGIN, TEST_OPERATOR_KEYS, TEST_QUOTA } from "./test/support/keys.ts";

const sha256Hex = (key: string) => createHash("sha256").update(key).digest("hex");

const apiKeys = {
  ...Object.fromEntries(Object.entries(TEST_API_KEYS).map(([tenant, keys]) => [tenant, keys.map(sha256Hex)])),
  dev: [sha256Hex(DEV_API_KEY)],
};

const operatorKeys = Object.fromEntries(
  Object.entries(TEST_OPERATOR_KEYS).map(([operator, keys]) => [operator, keys.map(sha256Hex)]),
);

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          API_KEYS: JSON.stringify(apiKeys),
          OPERATOR_KEYS: JSON.stringify(operatorKeys),
          CORS_ALLOWED_ORIGINS: TEST_CORS_ORIGIN,
        },
        // Real rate limiters for the quota tests (one each, so they cannot use up each other's quota);
        // the Worker reads RATE_LIMITER, which those tests point at one of these.
        ratelimits: Object.fromEntries(
          ["SINGLE", "BATCH", "QUEUE", "REFUSED_BATCH", "LIST", "DEV_COMMANDS"].map((name, i) => [
            `TEST_RATE_LIMITER_${name}`,
            { namespace_id: String(1001 + i), simple: { limit: TEST_QUOTA, period: 60 as const } },
          ]),
        ),
      },
    }),
  ],
  // The README's client example imports the client as a consumer would; here it is the source.
  resolve: { alias: { "onceledger/client": new URL("./src/client/onceledger-client.ts", import.meta.url).pathname } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});

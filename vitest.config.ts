import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DEV_API_KEY, TEST_API_KEYS, TEST_CORS_ORIGIN } from "./test/support/keys.ts";

const sha256Hex = (key: string) => createHash("sha256").update(key).digest("hex");

const apiKeys = {
  ...Object.fromEntries(Object.entries(TEST_API_KEYS).map(([tenant, keys]) => [tenant, keys.map(sha256Hex)])),
  dev: [sha256Hex(DEV_API_KEY)],
};

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { API_KEYS: JSON.stringify(apiKeys), CORS_ALLOWED_ORIGINS: TEST_CORS_ORIGIN } },
    }),
  ],
  // The README's client example imports the client as a consumer would; here it is the source.
  resolve: { alias: { "onceledger/client": new URL("./src/client/index.ts", import.meta.url).pathname } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});

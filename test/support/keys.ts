import { MAX_API_KEY_LENGTH } from "../../src/domain/limits.ts";

/**
 * API keys the test suite configures (vitest.config.ts puts their digests in
 * API_KEYS). Two tenants, one of them mid-rotation with two live keys.
 */
export const TEST_API_KEYS = {
  acme: ["olk_test_acme_primary", "olk_test_acme_rotated"],
  globex: ["olk_test_globex"],
  edge: ["k".repeat(MAX_API_KEY_LENGTH), "k".repeat(MAX_API_KEY_LENGTH + 1)],
} as const;

export { DEV_API_KEY } from "../../src/config/dev-key.ts";

/** Operator keys the test suite configures (vitest.config.ts puts their digests in OPERATOR_KEYS), by operator name. */
export const TEST_OPERATOR_KEYS = {
  oncall: ["olk_test_operator_oncall"],
} as const;

/** The one browser origin the test suite allows (CORS_ALLOWED_ORIGINS). */
export const TEST_CORS_ORIGIN = "https://admin.example.com";

/** Requests per minute each test rate limiter allows a tenant. */
export const TEST_QUOTA = 5;

/**
 * Bindings and settings that wrangler.toml does not declare: settings an
 * operator sets in the dashboard (a var declared in wrangler.toml would be
 * put back by every deploy; keep_vars keeps these), and optional bindings
 * the service runs without. Each is read with its default where it is used.
 * Declared for the Worker's env and for the env `cloudflare:workers` exports.
 */
interface Env {
  IDEMPOTENCY_TTL_SECONDS?: string;
  CORS_ALLOWED_ORIGINS?: string;
  TENANT_JURISDICTIONS?: string;
  METRICS?: AnalyticsEngineDataset;
  RATE_LIMITER?: RateLimit;
}
declare namespace Cloudflare {
  interface Env {
    IDEMPOTENCY_TTL_SECONDS?: string;
    CORS_ALLOWED_ORIGINS?: string;
    TENANT_JURISDICTIONS?: string;
    METRICS?: AnalyticsEngineDataset;
    RATE_LIMITER?: RateLimit;
  }
}

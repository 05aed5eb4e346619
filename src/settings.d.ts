/**
 * Bindings and settings that wrangler.toml does not declare: settings an
 * operator sets in the dashboard (a var declared in wrangler.toml would be
 * put back by every deploy; keep_vars keeps these), and optional bindings
 * the service runs without. Each is read with its default where it is used.
 */
interface OnceLedgerSettings {
  IDEMPOTENCY_TTL_SECONDS?: string;
  CORS_ALLOWED_ORIGINS?: string;
  TENANT_JURISDICTIONS?: string;
  METRICS?: AnalyticsEngineDataset;
  RATE_LIMITER?: RateLimit;
}

/** Declared for the Worker's env and for the env `cloudflare:workers` exports. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- merges into the generated Env
interface Env extends OnceLedgerSettings {}
declare namespace Cloudflare {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- merges into the generated Env
  interface Env extends OnceLedgerSettings {}
}

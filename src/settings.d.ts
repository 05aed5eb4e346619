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
  /** The automatic close policy (src/config/period-close-settings.ts). */
  PERIOD_CLOSE_AFTER_SECONDS?: string;
  PERIOD_CLOSE_AT_ENTRIES?: string;
  /** Archive buckets of jurisdictions (src/config/archive-bucket.ts). */
  ARCHIVE_EU?: R2Bucket;
  ARCHIVE_FEDRAMP?: R2Bucket;
  ARCHIVE_FEDRAMP_HIGH?: R2Bucket;
  ARCHIVE_US?: R2Bucket;
  /** The operator's keys (src/transport/operator-keys.ts); unset, there is no operator. */
  OPERATOR_KEYS?: string;
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

/**
 * The Workers declarations that the Worker's settings parsers name
 * (src/transport/tenant-placement.ts, src/http/cors.ts), for the settings
 * check that runs them in Node. Scripts are type-checked with Node's types
 * (tsconfig.node.json), where the full Workers declarations would clash;
 * only what those files use, as the generated worker-configuration.d.ts
 * and @cloudflare/workers-types declare it.
 */
type DurableObjectJurisdiction = "eu" | "fedramp" | "fedramp-high" | "us";

interface Env {
  readonly CORS_ALLOWED_ORIGINS?: string;
  readonly TENANT_JURISDICTIONS?: string;
  readonly DIRECTORY: {
    getByName(name: string): {
      checkPin(
        jurisdiction: string | null,
        record: boolean,
      ): Promise<{ ok: true; pinned: boolean } | { ok: false; pinnedTo: string | null }>;
    };
  };
}

/**
 * Mints an API key for a tenant: prints the key once, its SHA-256 digest,
 * and how to add the digest to the API_KEYS secret. Only the digest is ever
 * stored; the key cannot be recovered from it.
 *
 *   npm run mint-key -- <tenant>
 */
import { createHash, randomBytes } from "node:crypto";
import { keyIdOf } from "../src/config/key-id.ts";
import { TENANT_ID_PATTERN } from "../src/domain/limits.ts";

const tenant = process.argv[2];

if (tenant === undefined || !TENANT_ID_PATTERN.test(tenant)) {
  console.error("usage: npm run mint-key -- <tenant>   (tenant: 1 to 64 of a-z, 0-9, _ and -)");
  process.exit(2);
}

const key = `olk_${randomBytes(32).toString("base64url")}`;
const digest = createHash("sha256").update(key).digest("hex");

console.log(`API key for tenant "${tenant}" (shown once; give it to the tenant, store it nowhere else):

  ${key}

SHA-256 digest (this is what OnceLedger stores):

  ${digest}

Key id (logs, metrics and every entry it makes name the key by this):

  ${keyIdOf(digest)}

Add the digest to the API_KEYS secret, a JSON object of tenant id to digests:

  ${JSON.stringify({ [tenant]: [digest] })}

CAUTION: setting API_KEYS replaces the whole secret, and a secret cannot be
read back. Merge this digest into your full copy of API_KEYS (every tenant,
and this tenant's current digest until its callers have switched keys), keep
that copy somewhere safe, and set the merged object:

  npx wrangler secret put API_KEYS      # paste the whole merged JSON object
or, in the Cloudflare dashboard: Workers & Pages > onceledger > Settings >
Variables and Secrets > API_KEYS (type Secret).`);

/**
 * The committed development key: public, so honoured only where the
 * ALLOW_DEV_KEY variable is DEV_KEY_ALLOWED, which only `.dev.vars` sets
 * (`wrangler dev` reads it; `wrangler deploy` never uploads it). Its one
 * home: scripts, tests and the Worker all read it here; `.dev.vars` holds its
 * digest.
 */
export const DEV_API_KEY = "olk_dev_local_only_do_not_deploy";
export const DEV_TENANT = "dev";
/** SHA-256 of DEV_API_KEY, hex; a unit test recomputes it. */
export const DEV_API_KEY_SHA256 = "25c34285186e40eb541be598f46c0dd2ca195a12c2601935cdd9dfb7e45e9cdf";

/** The one value of ALLOW_DEV_KEY that admits the development key. */
export const DEV_KEY_ALLOWED = "true";

/**
 * The committed development key: public, so never honoured by a deployment
 * (see README). Its one home: scripts, tests and the Worker all read it here;
 * `.dev.vars` holds its digest for `wrangler dev`.
 */
export const DEV_API_KEY = "olk_dev_local_only_do_not_deploy";
export const DEV_TENANT = "dev";
/** SHA-256 of DEV_API_KEY, hex; a unit test recomputes it. */
export const DEV_API_KEY_SHA256 = "25c34285186e40eb541be598f46c0dd2ca195a12c2601935cdd9dfb7e45e9cdf";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** `wrangler dev` serves loopback; a deployed Worker never receives a request addressed to it. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

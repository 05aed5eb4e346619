/**
 * SHA-256 of the committed development key (see README and .dev.vars).
 * The key is public, so it is honoured only on a request addressed to this
 * machine's loopback, which `wrangler dev` serves and a deployed Worker never
 * receives, whatever API_KEYS holds.
 */
export const DEV_API_KEY_SHA256 = "25c34285186e40eb541be598f46c0dd2ca195a12c2601935cdd9dfb7e45e9cdf";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

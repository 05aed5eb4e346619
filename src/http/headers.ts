import { etagOf } from "../domain/if-match.ts";
import type { Outcome } from "../contract/outcome.ts";

/**
 * Response headers that depend on what the body describes: an account's
 * ETag (its version) and where a created resource can be read. Read off the
 * body, so a replayed answer carries the same headers as the original.
 */

/** An account's ETag on 200 and 201, and its own URL on 201. */
export function accountHeaders(outcome: Outcome, params: { account: string }): Record<string, string> {
  if (outcome.status !== 200 && outcome.status !== 201) return {};
  const { version } = JSON.parse(outcome.body) as { version?: unknown };
  // An object older than account versions answers without one: then there is no ETag to give.
  const headers: Record<string, string> = Number.isSafeInteger(version) ? { etag: etagOf(version as number) } : {};
  if (outcome.status === 201) headers.location = `/v1/accounts/${params.account}`;
  return headers;
}

/** A created charge's own URL. */
export function chargeHeaders(outcome: Outcome, params: { account: string }): Record<string, string> {
  if (outcome.status !== 201) return {};
  const { id } = JSON.parse(outcome.body) as { id: string };
  return { location: `/v1/accounts/${params.account}/charges/${encodeURIComponent(id)}` };
}

/** A closed period's own URL. */
export function periodHeaders(outcome: Outcome, params: { account: string }): Record<string, string> {
  if (outcome.status !== 201) return {};
  const { id } = JSON.parse(outcome.body) as { id: number };
  return { location: `/v1/accounts/${params.account}/periods/${String(id)}` };
}

/** A placed hold's own URL; a capture's answer (its entry) names its hold. */
export function holdHeaders(outcome: Outcome, params: { account: string }): Record<string, string> {
  if (outcome.status !== 201) return {};
  const body = JSON.parse(outcome.body) as { id: string; hold?: string };
  return { location: `/v1/accounts/${params.account}/holds/${encodeURIComponent(body.hold ?? body.id)}` };
}

/** A transfer's own URL. */
export function transferHeaders(outcome: Outcome, params: { account: string }): Record<string, string> {
  if (outcome.status !== 201) return {};
  const { id } = JSON.parse(outcome.body) as { id: string };
  return { location: `/v1/accounts/${params.account}/transfers/${encodeURIComponent(id)}` };
}

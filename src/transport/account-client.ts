import { logError } from "../observability/log.ts";
import { OBJECT_CALL_BACKOFF_MS, OBJECT_CALL_MAX_ATTEMPTS, TENANT_ID_PATTERN } from "../domain/limits.ts";
import { failure, type Outcome } from "../contract/outcome.ts";

/** An account object's stub, typed by the Worker's binding (worker-configuration.d.ts), not by importing the class. */
export type AccountStub = ReturnType<Env["ACCOUNTS"]["getByName"]>;

/**
 * The stub of a tenant's account, fresh on each call (a stub that saw an
 * error may be broken), in the tenant's jurisdiction (tenant-placement.ts).
 * Tenant ids cannot contain ":", so two tenants never share an object.
 */
export function accountStubs(
  accounts: Env["ACCOUNTS"],
  tenant: string,
  account: string,
  jurisdiction: DurableObjectJurisdiction | null,
): () => AccountStub {
  // Asserted here, where the object's name is built: a name must never be ambiguous.
  if (!TENANT_ID_PATTERN.test(tenant)) throw new Error(`invariant: tenant id ${JSON.stringify(tenant)} is invalid`);
  const name = `${tenant}:${account}`;
  // A pinned tenant's objects are created, stored and run only in its jurisdiction.
  const namespace = jurisdiction === null ? accounts : accounts.jurisdiction(jurisdiction);
  return () => namespace.getByName(name);
}

/** The runtime's marks on an error thrown by a Durable Object call. */
interface ObjectCallError {
  readonly retryable?: boolean;
  readonly overloaded?: boolean;
}

/** What a caller learns about a call besides its result: for logs and metrics. */
export interface CallNotes {
  /** Named in the log line of a failed call (e.g. the request id). */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Told of each retried attempt. */
  readonly onRetry?: () => void;
}

/**
 * Calls one account's object. Only an error the runtime marks retryable and
 * not overloaded is retried, on a fresh stub: the object's idempotency makes
 * a repeated money call safe. Overload is reported as 503 so the client backs
 * off instead of piling on; anything else is a 500.
 */
export async function callAccount<T>(
  getStub: () => AccountStub,
  call: (stub: AccountStub) => Promise<T>,
  sleep: (ms: number) => Promise<void> = defaultSleep,
  notes: CallNotes = {},
): Promise<T | Outcome> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call(getStub());
    } catch (error) {
      const marks = (error ?? {}) as ObjectCallError;
      if (marks.overloaded === true) {
        return failure({ code: "overloaded" });
      }
      if (marks.retryable === true && attempt < OBJECT_CALL_MAX_ATTEMPTS) {
        notes.onRetry?.();
        await sleep(OBJECT_CALL_BACKOFF_MS * 2 ** (attempt - 1) * Math.random());
        continue;
      }
      logError("objectCallFailed", {
        ...notes.context,
        attempt,
        retryable: marks.retryable === true,
        error: String(error),
        stack: error instanceof Error ? (error.stack ?? null) : null,
      });
      return failure({ code: "internal_error", cause: "object_call" });
    }
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

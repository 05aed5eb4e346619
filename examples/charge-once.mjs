import { createLedgerClient, LedgerProblemError, OutcomeUnknownError } from "onceledger/client";

/** Opens and funds `account`, then charges it $50.00 exactly once, whatever the network does. */
export async function chargeOnce(baseUrl, apiKey, account) {
  const ledger = createLedgerClient({ baseUrl, apiKey });
  await ledger.openAccount(account, { currency: "USD" });
  await ledger.credit(account, { amount: 10000, currency: "USD" });
  try {
    const { value: charge, replayed } = await ledger.charge(account, { amount: 5000, currency: "USD" });
    return `charged ${charge.amount} as ${charge.id} (replayed: ${replayed})`;
  } catch (error) {
    if (error instanceof LedgerProblemError && error.code === "insufficient_funds") return "declined";
    if (error instanceof OutcomeUnknownError) return `unknown: retry with key ${error.idempotencyKey}`;
    throw error; // a 401 or a 400 is a bug to fix, not an outcome
  }
}

/**
 * The OnceLedger client, published as the package entry `onceledger/client`.
 * Everything a payment service needs to move money exactly once over a
 * network that loses answers.
 */
export { allEntries, createLedgerClient } from "./ledger-client.ts";
export type {
  AccountOptions,
  BatchOperationInput,
  IdempotencyKeyLookup,
  LedgerClient,
  LedgerClientOptions,
  LedgerResult,
  MoneyOptions,
  RequestOptions,
} from "./ledger-client.ts";
export { commandMessage } from "./command-message.ts";
export type { BuiltCommandMessage, CommandInput, CommandMessageOptions } from "./command-message.ts";
export { IdempotencyKeyExpiredError, LedgerProblemError, OutcomeUnknownError } from "./errors.ts";
export type { GiveUpReason } from "./errors.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry-policy.ts";
export type { Fetch } from "./send-with-retries.ts";
export { uuidV7 } from "./uuid-v7.ts";
export type {
  BatchOperation,
  HoldInput,
  MoneyInput,
  OpenAccountInput,
  RefundInput,
  TransferInput,
} from "../domain/commands.ts";
export type { ProblemCode, ProblemDocument } from "../domain/problems.ts";
export type {
  AccountChangeList,
  AccountList,
  AccountChangeView,
  AccountView,
  BatchResponse,
  BatchResult,
  ChargeView,
  EntryList,
  EntryView,
  HoldView,
  PeriodListView,
  PeriodObjectView,
  PeriodView,
  RefundView,
  TransferView,
} from "../domain/views.ts";

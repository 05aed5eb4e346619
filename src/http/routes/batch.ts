import { checkOperation } from "../../api/money-operation.ts";
import { batchRoute } from "../../api/routes.ts";
import { moneyRequest, type MoneyRequest } from "../../contract/requests.ts";
import { isMoneyOperation } from "../../domain/commands.ts";
import { failure, withFacts, type OperationGroup, type Outcome } from "../../contract/outcome.ts";
import { handle } from "../pipeline.ts";
import type { Result } from "../../lib/result.ts";
import type { RouteTable } from "./route-table.ts";

type BatchAnswer = Result<readonly Outcome[], Outcome>;

/**
 * POST /v1/accounts/{account}/batches: every operation checked on its own,
 * as its single route would check it; the well-formed ones decided in order
 * in one transaction by the account object; one result per operation.
 */
export function batchRoutes(): RouteTable {
  return [
    [
      batchRoute,
      handle(
        batchRoute,
        async ({ origin, params, body }, callAccountOf) => {
          const checked = body.operations.map((operation) => checkOperation(params.account, operation));
          // One id for the batch, one per operation: a repeated key in the batch is a replay, a retried call is not.
          const batchId = crypto.randomUUID();
          const requests: MoneyRequest[] = [];
          for (const [index, operation] of checked.entries()) {
            if (operation.ok) {
              requests.push(moneyRequest(`${batchId}.${index}`, operation.value, operation.value.command, origin));
            }
          }
          const answer = await callAccountOf<BatchAnswer>(params.account, (stub) => stub.moveMoneyInBatch(requests));
          // A failed call, or an account that does not exist or is overloaded, is the whole batch's answer.
          if (!("ok" in answer)) return answer;
          if (!answer.ok) return answer.error;
          const answers = answer.value;
          let next = 0;
          const results = checked.map((operation) =>
            operation.ok ? (answers[next++] as Outcome) : failure(operation.error),
          );
          const types = body.operations.map((operation) => operationType(operation));
          return batchOutcome(results, types);
        },
        { weight: ({ body }) => body.operations.length },
      ),
    ],
  ];
}

/** An operation's entry type as sent, for metrics ("invalid" when it names none). */
function operationType(operation: unknown): string {
  const type = (operation as { type?: unknown } | null)?.type;
  return isMoneyOperation(type) ? type : "invalid";
}

/** The operations' outcomes grouped by type, outcome and currency: at most a few dozen groups. */
function breakdownOf(results: readonly Outcome[], types: readonly string[]): OperationGroup[] {
  // Counted in place: a batch of a thousand operations in a few groups builds a few objects, not a thousand.
  const groups = new Map<string, { -readonly [K in keyof OperationGroup]: OperationGroup[K] }>();
  results.forEach((result, index) => {
    const operation = types[index] ?? "invalid";
    const code = result.facts?.code ?? null;
    const currency = result.facts?.entry?.currency ?? null;
    const id = `${operation}|${code ?? ""}|${String(result.replayed)}|${currency ?? ""}`;
    let group = groups.get(id);
    if (group === undefined) {
      group = { operation, code, replayed: result.replayed, currency, count: 0, amountMinor: 0 };
      groups.set(id, group);
    }
    group.count += 1;
    group.amountMinor += Math.abs(result.facts?.entry?.amount ?? 0);
  });
  return [...groups.values()];
}

/** 200 with one `{status, replayed, body}` per operation; each body is spliced in as the exact text recorded. */
function batchOutcome(results: readonly Outcome[], types: readonly string[]): Outcome {
  const parts = results.map(
    (result) => `{"status":${result.status},"replayed":${result.replayed},"body":${result.body}}`,
  );
  let rowsRead = 0;
  let rowsWritten = 0;
  let archiveReads = 0;
  for (const result of results) {
    rowsRead += result.facts?.work?.rowsRead ?? 0;
    rowsWritten += result.facts?.work?.rowsWritten ?? 0;
    archiveReads += result.facts?.archiveReads ?? 0;
  }
  return withFacts(
    { status: 200, body: `{"results":[${parts.join(",")}]}`, replayed: false },
    {
      code: null,
      work: { rowsRead, rowsWritten },
      archiveReads,
      operations: results.length,
      breakdown: breakdownOf(results, types),
    },
  );
}

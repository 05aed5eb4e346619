import { buildApp, withLastResort } from "./http/app.ts";
import { consumeCommands } from "./queue/command-consumer.ts";

// Only handlers may be exported from the main module: workerd refuses to
// start on any other export, so constants live in their own modules.
export { TenantDirectory } from "./directory/tenant-directory.ts";
export { AccountLedger } from "./ledger/account-ledger.ts";
export { DeadLetterStore } from "./dead-letters/dead-letter-store.ts";

const http = withLastResort(buildApp());

export default {
  fetch: http.fetch,
  queue: (batch, env) => consumeCommands(batch, env),
} satisfies ExportedHandler<Env>;

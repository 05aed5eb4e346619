import { buildApp, withLastResort } from "./http/app.ts";

// Only handlers may be exported from the main module: workerd refuses to
// start on any other export, so constants live in their own modules.
export { AccountLedger } from "./ledger/account-ledger.ts";

export default withLastResort(buildApp());

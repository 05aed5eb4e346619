/**
 * Rewrites the generated tables in docs/api.md from the code (the problem
 * catalogue and the limits). `--check` only compares.
 *
 *   npm run docs
 */
import { readFileSync, writeFileSync } from "node:fs";
import { withGeneratedTables } from "./docs/tables.ts";

const PATH = new URL("../docs/api.md", import.meta.url);
const current = readFileSync(PATH, "utf8");
const generated = withGeneratedTables(current);
if (process.argv.includes("--check")) {
  if (generated !== current) {
    console.error("docs/api.md has drifted from the code: run `npm run docs` and commit the result.");
    process.exit(1);
  }
} else {
  writeFileSync(PATH, generated);
}

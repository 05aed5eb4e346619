/**
 * Writes the OpenAPI document the Worker serves (src/api/openapi.json),
 * built from the route table and schemas. `--check` only compares, and
 * fails if the committed file is stale.
 *
 *   npm run openapi            # regenerate
 *   npm run openapi -- --check
 */
import { readFileSync, writeFileSync } from "node:fs";
import { buildOpenApiDocument } from "../src/api/openapi.ts";

const PATH = new URL("../src/api/openapi.json", import.meta.url);
const text = `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;

if (process.argv.includes("--check")) {
  if (readFileSync(PATH, "utf8") !== text) {
    console.error("src/api/openapi.json is stale: run `npm run openapi` and commit the result.");
    process.exit(1);
  }
} else {
  writeFileSync(PATH, text);
}

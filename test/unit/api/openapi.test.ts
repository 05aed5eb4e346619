import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../../../src/api/openapi.ts";
import committed from "../../../src/api/openapi.json";

describe("the OpenAPI document", () => {
  it("is committed as built from the routes and schemas (run `npm run openapi` after an API change)", () => {
    expect(committed).toEqual(buildOpenApiDocument());
  });
});

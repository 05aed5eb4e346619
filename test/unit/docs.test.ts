import { describe, expect, it } from "vitest";
import api from "../../docs/api.md?raw";
import example from "../../examples/charge-once.mjs?raw";
import readme from "../../README.md?raw";
import { generatedBlocks, withGeneratedTables } from "../../scripts/docs/tables.ts";
import { DEV_API_KEY } from "../../src/config/dev-key.ts";

/** The docs say what the code says: generated tables current, the README short and its example real. */
describe("docs", () => {
  it("docs/api.md holds the errors and limits tables as the code generates them (run `npm run docs`)", () => {
    expect(generatedBlocks(api).sort()).toEqual(["errors", "limits"]);
    expect(withGeneratedTables(api)).toBe(api);
  });

  it("keeps the README a short front door, under 8 KB", () => {
    expect(new TextEncoder().encode(readme).byteLength).toBeLessThan(8 * 1024);
  });

  it("shows the client example exactly as examples/charge-once.mjs has it", () => {
    expect(readme).toContain(`\`\`\`js\n${example}\`\`\``);
  });

  it("names the development key the code honours", () => {
    expect(readme).toContain(`KEY=${DEV_API_KEY}`);
  });
});

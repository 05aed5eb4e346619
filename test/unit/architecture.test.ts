import { describe, expect, it } from "vitest";

/**
 * The layers' rules, read off the source: the ledger core and the domain
 * depend on no transport and no validation library, and the client ships
 * nothing of the server's.
 */
const SOURCES = import.meta.glob<string>("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });

function importsOf(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((match) => match[1] as string);
}

function filesUnder(folder: string): [string, string[]][] {
  return Object.entries(SOURCES)
    .filter(([path]) => path.startsWith(`../../src/${folder}/`))
    .map(([path, text]) => [path.replace("../../", ""), importsOf(text)]);
}

describe("layers", () => {
  it("finds the sources", () => {
    expect(filesUnder("ledger").length).toBeGreaterThan(5);
    expect(filesUnder("domain").length).toBeGreaterThan(10);
  });

  it.each([
    ["domain", ["./"]],
    ["ledger", ["./", "../domain/", "cloudflare:workers"]],
    ["client", ["./", "../domain/"]],
    // The queue consumer shares the HTTP route's checks (api) and object calls (transport), never HTTP itself.
    ["queue", ["./", "../api/", "../domain/", "../transport/", "../ledger/outcome.ts"]],
    // Calling objects, shared by both ways in: it knows the objects' types, nothing of HTTP or queues.
    ["transport", ["./", "../domain/", "../ledger/account-ledger.ts", "../ledger/outcome.ts"]],
    // The tenant directory holds no money state and needs nothing of the ledger.
    ["directory", ["./", "cloudflare:workers"]],
  ])("src/%s imports only from %j", (folder, allowed) => {
    for (const [file, imports] of filesUnder(folder)) {
      for (const specifier of imports) {
        expect(
          allowed.some((prefix) => specifier.startsWith(prefix)),
          `${file} imports ${specifier}`,
        ).toBe(true);
      }
    }
  });

  it("keeps zod and hono out of the ledger, the domain and the client", () => {
    for (const folder of ["ledger", "domain", "client"]) {
      for (const [file, imports] of filesUnder(folder)) {
        expect(
          imports.filter((specifier) => /^(zod|hono|@hono)/.test(specifier)),
          file,
        ).toEqual([]);
      }
    }
  });
});

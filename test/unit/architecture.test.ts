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
    expect(filesUnder("domain").length).toBeGreaterThan(5);
  });

  // Each folder's row of docs/architecture.md: the folders of src/ (and the packages) its files may import.
  // No file has an exception.
  const LAYERS: [folder: string, allowed: string[]][] = [
    ["lib", []],
    ["domain", ["lib"]],
    ["contract", ["domain", "lib"]],
    ["config", ["domain", "lib"]],
    ["observability", ["domain", "lib"]],
    ["ledger", ["domain", "lib", "contract", "config", "observability", "cloudflare:workers"]],
    ["directory", ["cloudflare:workers"]],
    // Keeps dead letters for the operator; sends a replayed one to the commands queue, which decides it.
    ["dead-letters", ["domain", "lib", "config", "cloudflare:workers"]],
    ["client", ["domain", "lib"]],
    ["api", ["domain", "lib", "zod/mini"]],
    // How both ways in reach an account object: nothing of HTTP or queues, and of the ledger nothing at all
    // (a stub is typed by the Worker's binding).
    ["transport", ["domain", "lib", "contract", "config", "observability"]],
    ["http", ["domain", "lib", "contract", "config", "observability", "api", "transport", "hono", "zod/mini"]],
    ["queue", ["domain", "lib", "contract", "config", "observability", "api", "transport"]],
  ];

  /** The folder of src/ a relative specifier lands in, or the package a bare one names. */
  function targetOf(file: string, specifier: string): string {
    if (!specifier.startsWith(".")) return specifier.startsWith("hono/") ? "hono" : specifier;
    const parts = file.split("/").slice(0, -1);
    for (const part of specifier.split("/")) {
      if (part === "..") parts.pop();
      else if (part !== ".") parts.push(part);
    }
    return parts[1] ?? "";
  }

  it("gives every folder of src/ a row", () => {
    const folders = new Set(Object.keys(SOURCES).map((path) => path.split("/")[3] ?? ""));
    folders.delete("index.ts");
    folders.delete("settings.d.ts");
    expect([...folders].sort()).toEqual(LAYERS.map(([folder]) => folder).sort());
  });

  it.each(LAYERS)("src/%s imports only from itself and %j", (folder, allowed) => {
    for (const [file, imports] of filesUnder(folder)) {
      for (const specifier of imports) {
        const target = targetOf(file, specifier);
        expect(target === folder || allowed.includes(target), `${file} imports ${specifier}`).toBe(true);
      }
    }
  });

  it("gives no two source files the same name", () => {
    const names = Object.keys(SOURCES).map((path) => path.split("/").at(-1) ?? "");
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it("writes logs only through the logging module", () => {
    for (const [path, text] of Object.entries(SOURCES)) {
      if (path.endsWith("/observability/log.ts")) continue;
      expect(/\bconsole\./.test(text), path).toBe(false);
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

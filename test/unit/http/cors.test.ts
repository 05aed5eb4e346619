import { describe, expect, it } from "vitest";
import { MAX_CORS_ORIGINS } from "../../../src/domain/limits.ts";
import { parseAllowedOrigins } from "../../../src/http/cors.ts";

describe("parseAllowedOrigins", () => {
  it("allows no origin when the setting is absent or blank", () => {
    for (const value of [undefined, "", " ", " , "])
      expect(parseAllowedOrigins(value)).toEqual({ ok: true, value: [] });
  });

  it("reads a comma-separated list of exact origins", () => {
    expect(parseAllowedOrigins(" https://admin.example.com, http://localhost:5173 ")).toEqual({
      ok: true,
      value: ["https://admin.example.com", "http://localhost:5173"],
    });
  });

  it.each([
    "*",
    "admin.example.com",
    "https://admin.example.com/",
    "https://admin.example.com/path",
    "ftp://x.com",
    "https://Admin.example.com",
  ])("refuses %s, which is not an exact http(s) origin", (entry) => {
    const parsed = parseAllowedOrigins(`https://ok.example.com,${entry}`);
    expect(parsed.ok).toBe(false);
  });

  it(`accepts ${MAX_CORS_ORIGINS} origins and refuses ${MAX_CORS_ORIGINS + 1}`, () => {
    const list = (count: number) => Array.from({ length: count }, (_, i) => `https://o${i}.example.com`).join(",");
    expect(parseAllowedOrigins(list(MAX_CORS_ORIGINS)).ok).toBe(true);
    expect(parseAllowedOrigins(list(MAX_CORS_ORIGINS + 1)).ok).toBe(false);
  });
});

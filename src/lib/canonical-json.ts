/**
 * JSON text with object keys sorted at every depth and no whitespace, so
 * two bodies that differ only in key order or spacing read the same.
 */
export function canonicalJson(value: unknown): string {
  return flatCanonicalJson(value) ?? JSON.stringify(sortKeys(value));
}

/**
 * The same text, written directly, for the usual body: an object whose values
 * are strings, numbers, booleans or null and whose keys cannot be array
 * indexes (which an object lists first, in numeric order); undefined for any
 * other value, which takes the general way.
 */
function flatCanonicalJson(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  let text = "";
  for (const key of Object.keys(value).sort()) {
    const code = key.charCodeAt(0);
    if (code >= 0x30 && code <= 0x39) return undefined;
    const field = (value as Record<string, unknown>)[key];
    if (field !== null && typeof field !== "string" && typeof field !== "number" && typeof field !== "boolean") {
      return undefined;
    }
    text += `${text === "" ? "" : ","}${JSON.stringify(key)}:${JSON.stringify(field)}`;
  }
  return `{${text}}`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    // fromEntries defines own properties, so a "__proto__" key is kept as a key.
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

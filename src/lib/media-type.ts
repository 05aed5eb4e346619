/** Whether a Content-Type header names JSON, whatever its parameters and case (`Application/JSON; charset=utf-8`). */
export function isJsonMediaType(contentType: string | null): boolean {
  return contentType?.split(";", 1)[0]?.trim().toLowerCase() === "application/json";
}

import fc from "fast-check";
import {
  MAX_ACCOUNT_NAME_LENGTH,
  MAX_AMOUNT_MINOR,
  MAX_BODY_BYTES,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENTRY_ID_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_JSON_DEPTH,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_PAIRS,
  MAX_METADATA_VALUE_LENGTH,
  MAX_OVERDRAFT_LIMIT_MINOR,
  MAX_PAGE_SIZE,
} from "../../src/domain/limits.ts";
import type { ProblemCode } from "../../src/domain/problems.ts";
import { ACME_KEY } from "./api.ts";
import { printable } from "./storage.ts";

/**
 * Request generators for the HTTP fuzz tests (test/integration/http-fuzz.test.ts).
 * Each generated request is malformed in at least one way that must be
 * refused, and is otherwise a valid request to a real, funded account; it
 * carries the problem codes it may be refused with.
 */

const encoder = new TextEncoder();
const JSON_TYPE = "application/json";
const ACCOUNT_NAME = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ACCOUNT_NAME_LENGTH}}$`);
/** Well-formed, but no such charge: a refund to it would be a recorded 404. */
const MISSING_CHARGE = `ch_${"f".repeat(32)}`;

type BodyRoute = "open" | "credits" | "charges" | "refunds";
type Route = BodyRoute | "account" | "entries" | "charge" | "lookup";
const BODY_ROUTES: readonly BodyRoute[] = ["open", "credits", "charges", "refunds"];
const ALL_ROUTES: readonly Route[] = [...BODY_ROUTES, "account", "entries", "charge", "lookup"];
/** Well-formed, but never used: a lookup of it finds nothing. */
const UNUSED_KEY = "fuzz-never-used";

type Body =
  | { readonly transport: "text"; readonly text: string }
  | { readonly transport: "bytes"; readonly bytes: Uint8Array }
  | { readonly transport: "stream"; readonly bytes: Uint8Array; readonly chunk: number };

export interface FuzzRequest {
  /** What was done to the request, in plain ASCII. */
  readonly label: string;
  readonly method: string;
  /** Path and query as they go on the wire (already percent-encoded). */
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Body;
  /** The codes this request may be refused with. */
  readonly codes: readonly ProblemCode[];
}

// ---------------------------------------------------------------------------
// Characters and text

/** Latin-1 characters legal in a header value (a ByteString without NUL, CR or LF). */
const headerChar = fc
  .oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 0x7f }) },
    // Rarer: the runtime sends these as UTF-8 and logs a warning for each.
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  )
  .filter((code) => code !== 0x0a && code !== 0x0d)
  .map((code) => String.fromCharCode(code));
/** ...of which those that are not visible ASCII, so never part of a key. */
const nonKeyChar = headerChar.filter((ch) => ch < "\x21" || ch > "\x7e");
/** Visible ASCII without the characters a bare key or a string item treats specially. */
const plainChar = fc
  .integer({ min: 0x21, max: 0x7e })
  .filter((code) => code !== 0x22 && code !== 0x2c && code !== 0x5c)
  .map((code) => String.fromCharCode(code));
const plain = (minLength: number, maxLength: number) => fc.string({ unit: plainChar, minLength, maxLength });

/** Any text: graphemes, raw UTF-16 (lone surrogates included) or Latin-1 with control characters. */
const anyText = (maxLength = 30) =>
  fc.oneof(
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: headerChar, maxLength }),
  );

const isDotSegment = (segment: string) => segment === "." || segment === "..";

/** A path segment that is not "." or "..", which URLs would normalise away. */
const segmentArb = fc.oneof(
  fc
    .string({ unit: "grapheme", maxLength: 20 })
    .filter((s) => !isDotSegment(s))
    .map(encodeURIComponent),
  fc.constantFrom("%FF", "%E0%A4%A", "%", "%00", "%ED%A0%80", "%2F", "%20", "a%0Ab", "%C3%A9", "%F0%9F%98%80"),
);

// ---------------------------------------------------------------------------
// Bodies, built as raw JSON text so numbers like -0 and 1e400 go out as written

type Fields = ReadonlyArray<readonly [string, string]>;
const raw = (value: unknown) => JSON.stringify(value);
const objectText = (fields: Fields) => `{${fields.map(([key, value]) => `${raw(key)}:${value}`).join(",")}}`;

const descriptionArb = anyText(40).map(raw);
const metadataArb = fc.dictionary(anyText(8), anyText(12), { maxKeys: 4 }).map((metadata) => raw(metadata));
const amountArb = fc.integer({ min: 1, max: 1000 }).map(String);

/** A valid body for the route (before the request is made invalid some other way). */
function validFields(route: BodyRoute): fc.Arbitrary<Fields> {
  const optional = (key: string, arb: fc.Arbitrary<string>) =>
    fc.option(
      arb.map((value) => [key, value] as const),
      { nil: undefined },
    );
  const build = (...parts: ReadonlyArray<readonly [string, string] | undefined>): Fields =>
    parts.filter((part) => part !== undefined);
  switch (route) {
    case "open":
      return optional("overdraft_limit", fc.integer({ min: 0, max: MAX_OVERDRAFT_LIMIT_MINOR }).map(String)).map(
        (limit) => build(["currency", raw("USD")], limit),
      );
    case "credits":
    case "charges":
      return fc
        .tuple(amountArb, optional("description", descriptionArb), optional("metadata", metadataArb))
        .map(([amount, description, metadata]) =>
          build(["amount", amount], ["currency", raw("USD")], description, metadata),
        );
    case "refunds":
      return fc
        .tuple(
          optional("amount", amountArb),
          optional("description", descriptionArb),
          optional("metadata", metadataArb),
        )
        .map(([amount, description, metadata]) =>
          build(["charge", raw(MISSING_CHARGE)], amount, description, metadata),
        );
  }
}

const REQUIRED: Record<BodyRoute, readonly string[]> = {
  open: ["currency"],
  credits: ["amount", "currency"],
  charges: ["amount", "currency"],
  refunds: ["charge"],
};
const KNOWN: Record<BodyRoute, readonly string[]> = {
  open: ["currency", "overdraft_limit"],
  credits: ["amount", "currency", "description", "metadata"],
  charges: ["amount", "currency", "description", "metadata"],
  refunds: ["charge", "amount", "currency", "description", "metadata"],
};

const notAnAmount = (value: number) => !(Number.isInteger(value) && value >= 1 && value <= MAX_AMOUNT_MINOR);
const ALWAYS_BAD = ["null", "true", "false", "[]", "{}", '"x"'];

/** Values, as raw JSON text, that no field of the name accepts. */
const BAD_VALUES: Record<string, fc.Arbitrary<string>> = {
  amount: fc.oneof(
    fc.constantFrom(
      "0",
      "-0",
      "-0.0",
      "-1",
      "0.5",
      "1e-7",
      "1E-7",
      String(MAX_AMOUNT_MINOR + 1),
      "1e13",
      "1e308",
      "-1e308",
      "1e400",
      "9007199254740993",
      "9007199254740992",
      '"100"',
      '"NaN"',
      '"Infinity"',
      '"-Infinity"',
      '"1e3"',
      '"0x10"',
      '""',
      "[100]",
      '{"value":100}',
      ...ALWAYS_BAD,
    ),
    fc.double().filter(notAnAmount).map(raw),
    fc.integer().filter(notAnAmount).map(String),
    anyText().map(raw),
  ),
  currency: fc.oneof(
    fc.constantFrom(
      '"usd"',
      '"US"',
      '"USDD"',
      '""',
      '"U$D"',
      raw("\uff35\uff33\uff24"),
      '"US\\u0000"',
      '" USD"',
      '"USD "',
      "840",
      '["USD"]',
      ...ALWAYS_BAD,
    ),
    anyText()
      .filter((s) => !/^[A-Z]{3}$/.test(s))
      .map(raw),
  ),
  overdraft_limit: fc.oneof(
    fc.constantFrom(
      "-1",
      "1.5",
      "0.1",
      "-1e-7",
      String(MAX_OVERDRAFT_LIMIT_MINOR + 1),
      "1e308",
      "1e400",
      "9007199254740993",
      '"0"',
      ...ALWAYS_BAD,
    ),
    fc
      .double()
      .filter((d) => !(Number.isInteger(d) && d >= 0 && d <= MAX_OVERDRAFT_LIMIT_MINOR))
      .map(raw),
  ),
  charge: fc.oneof(
    fc.constantFrom(
      '""',
      raw("c".repeat(MAX_ENTRY_ID_LENGTH + 1)),
      raw("ch \u00e9"),
      '"ch x"',
      '"ch\\u0000"',
      '"ch\\t"',
      '"\\ud800"',
      "5",
      ...ALWAYS_BAD.filter((value) => value !== '"x"'),
    ),
    fc
      .tuple(
        plain(0, 10),
        anyText(5).filter((s) => /[^\x21-\x7e]/.test(s)),
        plain(0, 10),
      )
      .map(([a, b, c]) => raw(a + b + c)),
  ),
  description: fc.constantFrom(
    raw("d".repeat(MAX_DESCRIPTION_LENGTH + 1)),
    raw("\u{1F600}".repeat(MAX_DESCRIPTION_LENGTH + 1)),
    '"\\ud800"',
    '"a\\udc00b"',
    "5",
    "null",
    "true",
    "[]",
    "{}",
  ),
  metadata: fc.constantFrom(
    "[]",
    '"x"',
    "5",
    "null",
    '{"a":1}',
    '{"a":null}',
    '{"a":{"b":"c"}}',
    '{"a":["b"]}',
    raw(Object.fromEntries(Array.from({ length: MAX_METADATA_PAIRS + 1 }, (_, i) => [`k${i}`, "v"]))),
    '{"":"v"}',
    raw({ ["k".repeat(MAX_METADATA_KEY_LENGTH + 1)]: "v" }),
    raw({ k: "v".repeat(MAX_METADATA_VALUE_LENGTH + 1) }),
    '{"__proto__":"x"}',
    '{"\\ud800":"x"}',
    '{"a":"\\udfff"}',
  ),
};

/** An object nesting `depth` objects, the innermost holding a string: never a string, nor string pairs. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}"x"${"}".repeat(depth)}`;

/** A body that must fail JSON parsing or the schema, and the codes that may say so. */
function badBodyArb(
  route: BodyRoute,
): fc.Arbitrary<{ label: string; text: string | Uint8Array; codes: ProblemCode[] }> {
  const base = validFields(route);
  const fieldNames = KNOWN[route];
  return fc.oneof(
    // One field of the wrong type or out of range.
    fc
      .tuple(
        base,
        fc
          .constantFrom(...fieldNames)
          .chain((name) => fc.tuple(fc.constant(name), BAD_VALUES[name] ?? fc.constant("null"))),
      )
      .map(([fields, [name, value]]) => ({
        label: `bad ${name}`,
        text: objectText([...fields.filter(([key]) => key !== name), [name, value]]),
        codes: ["invalid_request" as const],
      })),
    // A required field missing.
    fc.tuple(base, fc.constantFrom(...REQUIRED[route])).map(([fields, name]) => ({
      label: `missing ${name}`,
      text: objectText(fields.filter(([key]) => key !== name)),
      codes: ["invalid_request" as const],
    })),
    // An unknown field, named anything.
    fc
      .tuple(
        base,
        anyText(12).filter((name) => !fieldNames.includes(name)),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([fields, name, value]) => ({
        label: "unknown field",
        text: objectText([...fields, [name, raw(value)]]),
        codes: ["invalid_request" as const],
      })),
    // A field given twice (also as an escape), even with the same value.
    fc.tuple(base, fc.boolean()).map(([fields, escaped]) => {
      const [name, value] = fields[0] ?? ["currency", raw("USD")];
      const again = escaped ? `"\\u${name.charCodeAt(0).toString(16).padStart(4, "0")}${name.slice(1)}"` : raw(name);
      return {
        label: "duplicate key",
        text: `${objectText(fields).slice(0, -1)},${again}:${value}}`,
        codes: ["invalid_json" as const],
      };
    }),
    // Deep nesting where a string or number is expected.
    fc
      .tuple(base, fc.integer({ min: 2, max: MAX_JSON_DEPTH + 24 }), fc.constantFrom(...fieldNames))
      .map(([fields, depth, name]) => ({
        label: `nesting ${depth} in ${name}`,
        text: objectText([...fields.filter(([key]) => key !== name), [name, nested(depth)]]),
        codes: ["invalid_json" as const, "invalid_request" as const],
      })),
    // Not an object at all, or not JSON: raw bytes (often not UTF-8) and text that cannot open an object.
    fc
      .oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.jsonValue({ maxDepth: 3 }).map(raw),
        fc.constantFrom("NaN", "Infinity", "-Infinity", "undefined", "{", "[", '"', "{}}", "\ufeff", "\u0000"),
      )
      .filter((body) => {
        const text = typeof body === "string" ? body : new TextDecoder().decode(body);
        return !text.replace(/^[\ufeff\s]+/, "").startsWith("{");
      })
      .map((text) => ({ label: "not an object", text, codes: ["invalid_json" as const, "invalid_request" as const] })),
  );
}

// ---------------------------------------------------------------------------
// Headers

/** Header values that are legal ByteStrings but never an Idempotency-Key. */
const invalidKeyArb: fc.Arbitrary<string> = fc.oneof(
  // A character that is not visible ASCII inside a bare key.
  fc
    .tuple(plain(1, 20), fc.string({ unit: nonKeyChar, minLength: 1, maxLength: 3 }), plain(1, 20))
    .map((p) => p.join("")),
  // ...or inside a string item.
  fc.tuple(plain(0, 20), nonKeyChar, plain(0, 20)).map(([a, b, c]) => `"${a}${b}${c}"`),
  // ...or at either end, unless it is a space or tab, which HTTP itself strips.
  fc
    .tuple(
      plain(1, 20),
      nonKeyChar.filter((ch) => ch !== " " && ch !== "\t"),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([key, ch, atStart, quoted]) => {
      const item = quoted ? `"${key}"` : key;
      return atStart ? `${ch}${item}` : `${item}${ch}`;
    }),
  // Too long.
  plain(MAX_IDEMPOTENCY_KEY_LENGTH + 1, MAX_IDEMPOTENCY_KEY_LENGTH + 40),
  // A comma or a quote inside a bare key.
  fc.tuple(plain(1, 10), fc.constantFrom(",", '"'), plain(0, 10)).map((p) => p.join("")),
  // Malformed string items.
  fc
    .tuple(
      plain(1, 10),
      fc.constantFrom("", '"x', '";', '";A=1', '";a=', '";a=?2', '";a="b', '"""', '\\q"', '";;', '",x'),
    )
    .map(([a, tail]) => `"${a}${tail}`),
  // Empty, once the runtime strips the spaces around it.
  fc.constantFrom("", "   ", '""', ' "" '),
);

/** Authorization values that name no tenant. */
const badAuthArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.constantFrom(
    `Basic ${btoa(ACME_KEY)}`,
    ACME_KEY,
    `Bearer ${ACME_KEY}x`,
    `Bearer ${ACME_KEY.slice(0, -1)}`,
    `Bearer ${ACME_KEY} ${ACME_KEY}`,
    `Bearer ${ACME_KEY}=x`,
    `Bearer "${ACME_KEY}"`,
    `Token ${ACME_KEY}`,
    "Bearer",
    "Bearer ",
  ),
  fc.string({ unit: headerChar, maxLength: 60 }).map((s) => `Bearer ${s}`),
  fc.string({ unit: headerChar, maxLength: 60 }),
);

/** Content-Type values whose media type is not application/json; null sends none. */
const badContentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.constantFrom(
    "text/plain",
    "application/jsonp",
    "application/x-www-form-urlencoded",
    "application/merge-patch+json",
    "application/problem+json",
    "application/json-seq",
    "text/json",
    "json",
    "application/ json",
    "application/*",
    "*/*",
    "multipart/form-data; boundary=x",
    "",
  ),
  // One character inserted into (never a ';' or a space) or deleted from application/json.
  fc
    .tuple(
      fc.integer({ min: 0, max: JSON_TYPE.length }),
      fc.option(
        fc
          .integer({ min: 0x21, max: 0x7e })
          .filter((code) => code !== 0x3b)
          .map((code) => String.fromCharCode(code)),
        { nil: undefined },
      ),
      fc.constantFrom("", "; charset=utf-8", ";charset=UTF-8"),
    )
    .map(([at, ch, params]) =>
      ch === undefined
        ? `${JSON_TYPE.slice(0, Math.min(at, JSON_TYPE.length - 1))}${JSON_TYPE.slice(Math.min(at, JSON_TYPE.length - 1) + 1)}${params}`
        : `${JSON_TYPE.slice(0, at)}${ch}${JSON_TYPE.slice(at)}${params}`,
    ),
  fc.string({ unit: headerChar, maxLength: 30 }).filter((s) => !s.toLowerCase().includes("json")),
);
const goodContentTypeArb = fc.constantFrom(JSON_TYPE, "application/json; charset=utf-8", "APPLICATION/JSON");

// ---------------------------------------------------------------------------
// Requests

function routePath(route: Route, account: string): string {
  switch (route) {
    case "open":
    case "account":
      return `/v1/accounts/${account}`;
    case "credits":
    case "charges":
    case "refunds":
    case "entries":
      return `/v1/accounts/${account}/${route}`;
    case "charge":
      return `/v1/accounts/${account}/charges/${MISSING_CHARGE}`;
    case "lookup":
      return `/v1/accounts/${account}/idempotency-keys/${UNUSED_KEY}`;
  }
}

const ROUTE_METHOD: Record<Route, string> = {
  open: "PUT",
  account: "GET",
  credits: "POST",
  charges: "POST",
  refunds: "POST",
  entries: "GET",
  charge: "GET",
  lookup: "GET",
};

function isBodyRoute(route: Route): route is BodyRoute {
  return (BODY_ROUTES as readonly Route[]).includes(route);
}

/** Headers of an otherwise valid request to `route`; `omit` leaves one out for the caller to set. */
function validHeaders(
  route: Route,
  idempotencyKey: string,
  omit?: "authorization" | "idempotency-key" | "content-type",
) {
  const headers: [string, string][] = [];
  if (omit !== "authorization") headers.push(["authorization", `Bearer ${ACME_KEY}`]);
  if (isBodyRoute(route) && omit !== "content-type") headers.push(["content-type", JSON_TYPE]);
  if (route !== "open" && isBodyRoute(route) && omit !== "idempotency-key") {
    headers.push(["idempotency-key", idempotencyKey]);
  }
  return headers;
}

const keyArb = fc.uuid().map((uuid) => `fuzz-${uuid}`);

/** A valid body for a route that takes one; for other routes, a valid credit (a method or route mistake must not apply it). */
function validBodyText(route: Route): fc.Arbitrary<string> {
  return validFields(isBodyRoute(route) ? route : "credits").map(objectText);
}

export function bodiesArb(account: string): fc.Arbitrary<FuzzRequest> {
  return fc
    .constantFrom(...BODY_ROUTES)
    .chain((route) => fc.tuple(fc.constant(route), badBodyArb(route), keyArb, goodContentTypeArb, fc.boolean()))
    .map(([route, bad, key, contentType, asBytes]) => ({
      label: `${route}: ${bad.label}`,
      method: ROUTE_METHOD[route],
      path: routePath(route, account),
      headers: [...validHeaders(route, key, "content-type"), ["content-type", contentType] as const],
      body:
        typeof bad.text !== "string"
          ? { transport: "bytes" as const, bytes: bad.text }
          : asBytes
            ? { transport: "bytes" as const, bytes: encoder.encode(bad.text) }
            : { transport: "text" as const, text: bad.text },
      codes: bad.codes,
    }));
}

export function headersArb(account: string): fc.Arbitrary<FuzzRequest> {
  const moneyRoute = fc.constantFrom("credits" as const, "charges" as const, "refunds" as const);
  const bodyRoute = fc.constantFrom(...BODY_ROUTES);
  const anyRoute = fc.constantFrom(...ALL_ROUTES);
  return fc.oneof(
    // A malformed Idempotency-Key on an otherwise valid money request.
    moneyRoute.chain((route) =>
      fc.tuple(validBodyText(route), invalidKeyArb).map(([text, header]): FuzzRequest => ({
        label: `${route}: key ${printable(header, 40)}`,
        method: "POST",
        path: routePath(route, account),
        headers: [...validHeaders(route, "", "idempotency-key"), ["idempotency-key", header]],
        body: { transport: "text", text },
        codes: ["idempotency_key_invalid"],
      })),
    ),
    // No Idempotency-Key at all.
    moneyRoute.chain((route) =>
      validBodyText(route).map((text): FuzzRequest => ({
        label: `${route}: no key`,
        method: "POST",
        path: routePath(route, account),
        headers: validHeaders(route, "", "idempotency-key"),
        body: { transport: "text", text },
        codes: ["idempotency_key_missing"],
      })),
    ),
    // A wrong or missing Content-Type (bytes, so fetch adds none of its own).
    bodyRoute.chain((route) =>
      fc.tuple(validBodyText(route), badContentTypeArb, keyArb).map(([text, contentType, key]): FuzzRequest => ({
        label: `${route}: content-type ${contentType === null ? "none" : printable(contentType, 40)}`,
        method: ROUTE_METHOD[route],
        path: routePath(route, account),
        headers: [
          ...validHeaders(route, key, "content-type"),
          ...(contentType === null ? [] : [["content-type", contentType] as const]),
        ],
        body: { transport: "bytes", bytes: encoder.encode(text) },
        codes: ["unsupported_media_type"],
      })),
    ),
    // A header sent twice, each copy valid: the runtime joins them with ", ", which is neither.
    fc
      .tuple(
        moneyRoute,
        fc.constantFrom("idempotency-key", "authorization", "content-type"),
        keyArb,
        keyArb,
        fc.boolean(),
      )
      .chain(([route, name, key, otherKey, quoted]) =>
        validBodyText(route).map((text): FuzzRequest => {
          const second =
            name === "idempotency-key"
              ? quoted
                ? `"${otherKey}"`
                : key
              : name === "authorization"
                ? `Bearer ${ACME_KEY}`
                : JSON_TYPE;
          return {
            label: `${route}: ${name} twice`,
            method: "POST",
            path: routePath(route, account),
            headers: [...validHeaders(route, key), [name, second]],
            body: { transport: "text", text },
            codes: [
              name === "idempotency-key"
                ? "idempotency_key_invalid"
                : name === "authorization"
                  ? "unauthorized"
                  : "unsupported_media_type",
            ],
          };
        }),
      ),
    // No valid API key, on every route.
    anyRoute.chain((route) =>
      fc.tuple(validBodyText(route), badAuthArb, keyArb).map(([text, authorization, key]): FuzzRequest => ({
        label: `${route}: authorization ${authorization === null ? "none" : printable(authorization, 40)}`,
        method: ROUTE_METHOD[route],
        path: routePath(route, account),
        headers: [
          ...validHeaders(route, key, "authorization"),
          ...(authorization === null ? [] : [["authorization", authorization] as const]),
        ],
        body: isBodyRoute(route) ? { transport: "text", text } : undefined,
        codes: ["unauthorized"],
      })),
    ),
    // Bodies over MAX_BODY_BYTES: counted with Content-Length, chunked without, or declared too large.
    bodyRoute.chain((route) =>
      fc
        .tuple(
          validBodyText(route),
          fc.integer({ min: 1, max: 4000 }),
          fc.constantFrom("text" as const, "bytes" as const, "stream" as const, "declared" as const),
          fc.integer({ min: 100, max: 6000 }),
          keyArb,
        )
        .map(([text, over, transport, chunk, key]): FuzzRequest => {
          const padded = text + " ".repeat(MAX_BODY_BYTES - encoder.encode(text).byteLength + over);
          const headers = validHeaders(route, key);
          if (transport === "declared") {
            return {
              label: `${route}: Content-Length ${MAX_BODY_BYTES + over} declared`,
              method: ROUTE_METHOD[route],
              path: routePath(route, account),
              headers: [...headers, ["content-length", String(MAX_BODY_BYTES + over)]],
              body: { transport: "text", text },
              codes: ["payload_too_large"],
            };
          }
          const bytes = encoder.encode(padded);
          return {
            label: `${route}: ${bytes.byteLength} bytes as ${transport}`,
            method: ROUTE_METHOD[route],
            path: routePath(route, account),
            headers,
            body:
              transport === "text"
                ? { transport, text: padded }
                : transport === "bytes"
                  ? { transport, bytes }
                  : { transport, bytes, chunk },
            codes: ["payload_too_large"],
          };
        }),
    ),
  );
}

const METHODS = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "PURGE",
  "PROPFIND",
  "SEARCH",
  "QUERY",
  "COPY",
  "MOVE",
  "LOCK",
  "REPORT",
  "MKCOL",
  "patch",
  "delete",
  "options",
];

/** Query strings for the entries route with at least one parameter that must be refused. */
const badQueryArb: fc.Arbitrary<string> = (() => {
  const unknownParam = fc
    .tuple(
      fc
        .string({ unit: "grapheme", minLength: 1, maxLength: 12 })
        .filter((k) => k !== "limit" && k !== "starting_after"),
      anyText(12).filter((v) => v.isWellFormed()),
    )
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  const isPageSize = (v: string) => /^\d{1,4}$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_PAGE_SIZE;
  const badLimit = fc
    .oneof(
      fc.constantFrom(
        "0",
        String(MAX_PAGE_SIZE + 1),
        "-1",
        "1.5",
        "abc",
        "",
        "1e2",
        "10000",
        " 5",
        "0x10",
        "+5",
        "\u0665",
      ),
      fc.string({ unit: "grapheme", maxLength: 8 }),
      fc.integer().map(String),
    )
    .filter((v) => !isPageSize(v))
    .map((v) => `limit=${encodeURIComponent(v)}`);
  const badCursor = fc
    .oneof(
      fc.constantFrom("", "c".repeat(MAX_ENTRY_ID_LENGTH + 1), "cr x", "cr_\u00e9", MISSING_CHARGE, "cr_0"),
      fc.string({ unit: "grapheme", maxLength: 20 }),
    )
    .map((v) => `starting_after=${encodeURIComponent(v)}`);
  const junk = fc.constantFrom("", "&", "%ZZ=1", "a=b=c", "%=%", "x");
  return fc
    .tuple(
      fc.oneof(unknownParam, badLimit, badCursor),
      fc.array(fc.oneof(unknownParam, junk), { maxLength: 3 }),
      fc.boolean(),
    )
    .map(([fatal, noise, fatalFirst]) => `?${(fatalFirst ? [fatal, ...noise] : [...noise, fatal]).join("&")}`);
})();

export function pathsArb(account: string): fc.Arbitrary<FuzzRequest> {
  const anyRoute = fc.constantFrom(...ALL_ROUTES);
  const badAccount = fc.oneof(
    fc
      .string({ unit: "grapheme", minLength: 1, maxLength: 20 })
      .filter((s) => !ACCOUNT_NAME.test(s) && !isDotSegment(s))
      .map(encodeURIComponent),
    fc.string({
      unit: fc.constantFrom("a", "b", "X", "Z", "0", "9", "_", "-"),
      minLength: MAX_ACCOUNT_NAME_LENGTH + 1,
      maxLength: MAX_ACCOUNT_NAME_LENGTH + 16,
    }),
    fc.constantFrom("%FF", "%E0%A4%A", "%", "a%00b", "a.b", "a%20b", "%C3%A9", "~", "%2e%2e%2fx", "%ED%A0%80", "a%0Ab"),
  );
  return fc.oneof(
    // A bad account name on every route, everything else valid.
    fc.tuple(anyRoute, badAccount, keyArb).chain(([route, name, key]) =>
      validBodyText(route).map((text): FuzzRequest => ({
        label: `${route}: account ${printable(name, 40)}`,
        method: ROUTE_METHOD[route],
        path: routePath(route, name),
        headers: validHeaders(route, key),
        body: isBodyRoute(route) ? { transport: "text", text } : undefined,
        codes: ["invalid_request", "not_found"],
      })),
    ),
    // A method the route does not take, with a body that would otherwise be valid.
    fc
      .tuple(anyRoute, fc.constantFrom(...METHODS), keyArb)
      .filter(([route, method]) => {
        const upper = method.toUpperCase();
        const allowed = route === "open" || route === "account" ? ["GET", "PUT"] : [ROUTE_METHOD[route]];
        return !allowed.includes(upper);
      })
      .chain(([route, method, key]) =>
        validBodyText(route === "account" ? "open" : route).map((text): FuzzRequest => ({
          label: `${route}: method ${method}`,
          method,
          path: routePath(route, account),
          headers: [...validHeaders(isBodyRoute(route) ? route : "credits", key)],
          body: method.toUpperCase() === "GET" ? undefined : { transport: "text", text },
          codes: ["method_not_allowed"],
        })),
      ),
    // Paths no route matches, under /v1 and outside it.
    fc
      .tuple(
        fc.constantFrom("root", "v1", "account", "charge"),
        segmentArb,
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
        validBodyText("credits"),
        keyArb,
      )
      .filter(([shape, segment]) => {
        const decoded = safeDecode(segment);
        if (shape === "root") return decoded !== "v1" && decoded !== "openapi.json";
        if (shape === "v1") return decoded !== "accounts";
        if (shape === "account") return !["credits", "charges", "refunds", "entries"].includes(segment);
        return true;
      })
      .map(([shape, segment, method, text, key]): FuzzRequest => {
        const path =
          shape === "root"
            ? `/${segment}`
            : shape === "v1"
              ? `/v1/${segment}`
              : shape === "account"
                ? `/v1/accounts/${account}/${segment}`
                : `/v1/accounts/${account}/charges/${MISSING_CHARGE}/${segment}`;
        return {
          label: `${method} ${path}`,
          method,
          path,
          headers: validHeaders("credits", key),
          body: method === "GET" ? undefined : { transport: "text", text },
          codes: ["not_found"],
        };
      }),
    // Entry listings with a query that must be refused.
    badQueryArb.map((query): FuzzRequest => ({
      label: `entries${query}`,
      method: "GET",
      path: `${routePath("entries", account)}${query}`,
      headers: validHeaders("entries", ""),
      codes: ["invalid_request"],
    })),
    // Idempotency-Key lookups naming a malformed key (percent-encoded in the path) or none used.
    fc
      .oneof(
        segmentArb,
        plain(MAX_IDEMPOTENCY_KEY_LENGTH + 1, MAX_IDEMPOTENCY_KEY_LENGTH + 20).map(encodeURIComponent),
        fc.tuple(plain(1, 10), nonKeyChar, plain(1, 10)).map((p) => encodeURIComponent(p.join(""))),
        fc.constantFrom("%2e", "%2E%2E", "a%", "%%", "%zz", "%C0%AF"),
      )
      .map((segment): FuzzRequest => ({
        label: `lookup ${segment}`,
        method: "GET",
        path: `/v1/accounts/${account}/idempotency-keys/${segment}`,
        headers: validHeaders("lookup", ""),
        // An encoded dot segment (%2E%2E) is resolved by the URL itself, leaving no route.
        codes: ["invalid_request", "idempotency_key_not_found", "not_found"],
      })),
    // Charge ids that are malformed or name no charge.
    segmentArb
      .filter((segment) => segment !== "")
      .map((segment): FuzzRequest => ({
        label: `charge ${segment}`,
        method: "GET",
        path: `/v1/accounts/${account}/charges/${segment}`,
        headers: validHeaders("charge", ""),
        codes: ["invalid_request", "charge_not_found"],
      })),
  );
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

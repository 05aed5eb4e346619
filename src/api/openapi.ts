import * as z from "zod/mini";
import { IDEMPOTENCY_KEY_HEADER_PATTERNS } from "../domain/idempotency-key.ts";
import {
  MAX_BODY_BYTES,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_REQUEST_ID_LENGTH,
  OVERLOADED_RETRY_AFTER_SECONDS,
} from "../domain/limits.ts";
import { PROBLEM_CONTENT_TYPE, PROBLEMS, type ProblemCode } from "../domain/problems.ts";
import { ROUTES, type ResponseDef, type ResponseHeader, type RouteDef } from "./routes.ts";

/**
 * Builds the OpenAPI 3.1 document from the route table and the schemas the
 * server validates with. Run at build time (`npm run openapi` writes
 * src/api/openapi.json, which the Worker serves); a test rebuilds it and
 * compares, so every API change shows as a diff in review.
 */

type JsonSchema = Record<string, unknown>;

const COMPONENT_REF = (id: string) => `#/components/schemas/${id}`;

const REQUEST_ID_PATTERN = `^[\\x21-\\x7E]{1,${MAX_REQUEST_ID_LENGTH}}$`;

/** On every response: the id that names this request in the logs and in the key lookup. */
const REQUEST_ID_HEADER = {
  description: `The request's id: the caller's \`X-Request-Id\` when it is 1 to ${MAX_REQUEST_ID_LENGTH} visible ASCII characters, else one generated here. Quote it when reporting a problem.`,
  schema: { type: "string", example: "0b8f6c3e-7d1a-4e36-9a54-2f0d1c9b7a10" },
};
const REQUEST_ID_REF = { $ref: "#/components/headers/Request-Id" };

const X_REQUEST_ID_PARAMETER = {
  name: "X-Request-Id",
  in: "header",
  required: false,
  description: `Your own id for this request, echoed as \`Request-Id\` and logged; any other value is replaced by a generated one.`,
  schema: { type: "string", pattern: REQUEST_ID_PATTERN },
  example: "checkout-7f3a",
};

const RESPONSE_HEADERS: Readonly<Record<ResponseHeader, { description: string; schema: JsonSchema }>> = {
  "Idempotent-Replayed": {
    description:
      "`true` when this is the recorded outcome of an earlier request with the same Idempotency-Key, `false` on the original.",
    schema: { type: "string", enum: ["true", "false"] },
  },
  "Retry-After": {
    description: "Seconds to wait before retrying.",
    schema: { type: "integer", minimum: 0, example: OVERLOADED_RETRY_AFTER_SECONDS },
  },
  "WWW-Authenticate": { description: "The authentication scheme: `Bearer`.", schema: { type: "string" } },
  Location: { description: "The URL of the resource this response created.", schema: { type: "string" } },
  ETag: {
    description: 'The account\'s version as a strong entity tag, `"<version>"`: send it back in `If-Match`.',
    schema: { type: "string", example: '"3"' },
  },
};

const IDEMPOTENCY_KEY_PARAMETER = {
  name: "Idempotency-Key",
  in: "header",
  required: true,
  description: `One key per logical operation: 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (0x21-0x7E), never \`.\` or \`..\`. Bare (no \`"\` or \`,\`), or as an RFC 9651 string (\`"abc"\` and \`abc\` are one key; the server also accepts and ignores sf-string parameters).`,
  schema: {
    type: "string",
    anyOf: [{ pattern: IDEMPOTENCY_KEY_HEADER_PATTERNS.bare }, { pattern: IDEMPOTENCY_KEY_HEADER_PATTERNS.quoted }],
  },
  example: "order-1001",
};

/**
 * Tidies what zod emits: a schema whose documentation gives `jsonSchema`
 * is written as exactly that (e.g. a query parameter parsed from text into
 * an integer), and the safe-integer bounds every integer carries are left out.
 */
function override(ctx: { jsonSchema: JsonSchema }): void {
  const schema = ctx.jsonSchema;
  const replacement = schema.jsonSchema as JsonSchema | undefined;
  if (replacement !== undefined) {
    for (const key of Object.keys(schema)) Reflect.deleteProperty(schema, key);
    Object.assign(schema, replacement);
  }
  if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
  if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
}

const IF_MATCH_PARAMETER = {
  name: "If-Match",
  in: "header",
  required: false,
  description:
    'Apply the change only if the account is still at one of these versions: its ETag, `"<version>"` (or a list of them, or `*` for any existing account). Otherwise 412 `precondition_failed`.',
  schema: { type: "string", pattern: '^(?:\\*|"\\d{1,15}"(?:[ \\t]*,[ \\t]*"\\d{1,15}")*)$' },
  example: '"3"',
};

export function buildOpenApiDocument(): JsonSchema {
  const components = z.toJSONSchema(z.globalRegistry, { uri: COMPONENT_REF, override }).schemas;
  const schemas = Object.fromEntries(
    Object.entries(components)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, schema]) => [id, withoutRootKeywords(schema as JsonSchema)]),
  );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    paths[route.path] = { ...paths[route.path], [route.method]: operation(route) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "OnceLedger",
      version: "1.0.0",
      description: `An exactly-once account ledger. Every money-moving request carries an Idempotency-Key; a retry with the same key and body gets the recorded answer back and moves nothing. Bodies are JSON, at most ${MAX_BODY_BYTES} bytes; every error is an RFC 9457 problem document with a stable \`code\`: each response lists the codes it carries, and a later /v1 release may add one, so treat a code you do not know by its status. A method a path does not list is answered \`405 method_not_allowed\`, with an \`Allow\` header naming the methods it takes (\`HEAD\` wherever \`GET\` is).`,
      contact: { name: "The operator of this deployment" },
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [
      {
        url: "/",
        description:
          "The deployment that serves this document (at `/openapi.json`): each OnceLedger runs on its operator's own domain. Under `npm run dev`, http://localhost:8787.",
      },
    ],
    security: [{ bearer: [] }],
    tags: [
      { name: "Accounts", description: "Opening and reading accounts." },
      { name: "Money", description: "Credits, charges and refunds: each moves money once per Idempotency-Key." },
      {
        name: "Ledger",
        description: "The ledger's entries, and its closed periods: sealed, chained by SHA-256 and archived.",
      },
      {
        name: "Holds",
        description:
          "Funds set aside, then captured (one entry), voided or left to expire: each change once per Idempotency-Key.",
      },
      { name: "Idempotency", description: "What a key did, for reconciliation." },
    ],
    paths,
    components: {
      schemas,
      headers: { "Request-Id": REQUEST_ID_HEADER },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API key: `olk_...`." } },
    },
  };
}

function operation(route: RouteDef): JsonSchema {
  const parameters = [
    ...objectParameters(route.params, "path"),
    ...(route.query === undefined ? [] : objectParameters(route.query, "query")),
    ...(route.idempotencyKey === "none"
      ? []
      : [{ ...IDEMPOTENCY_KEY_PARAMETER, required: route.idempotencyKey === "required" }]),
    ...(route.conditional === true ? [IF_MATCH_PARAMETER] : []),
    X_REQUEST_ID_PARAMETER,
  ];
  const op: JsonSchema = {
    operationId: route.operationId,
    tags: route.tags,
    summary: route.summary,
    description: route.description,
    parameters,
    responses: Object.fromEntries(
      Object.entries(route.responses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, response]) => [status, responseObject(response)]),
    ),
  };
  if (route.body !== undefined) {
    op.requestBody = { required: true, content: { "application/json": { schema: schemaOf(route.body, "input") } } };
  }
  return op;
}

function responseObject(response: ResponseDef): JsonSchema {
  const problems = response.problems ?? [];
  const description =
    problems.length === 0
      ? response.description
      : `${response.description}: ${problems.map((code) => `\`${code}\` (${PROBLEMS[code].title})`).join(", ")}.`;
  const content =
    response.schema !== undefined
      ? { "application/json": { schema: schemaOf(response.schema, "output") } }
      : { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema(problems) } };
  const headers = Object.fromEntries((response.headers ?? []).map((name) => [name, RESPONSE_HEADERS[name]]));
  return { description, content, headers: { "Request-Id": REQUEST_ID_REF, ...headers } };
}

/**
 * A Problem whose `code` is one of the codes this response carries, so a
 * client generated from the document types it as those codes, not any string.
 */
function problemSchema(codes: readonly ProblemCode[]): JsonSchema {
  const problem = { $ref: COMPONENT_REF("Problem") };
  if (codes.length === 0) return problem;
  return {
    allOf: [
      problem,
      {
        type: "object",
        required: ["code"],
        properties: { code: { type: "string", enum: [...codes] } },
      },
    ],
  };
}

/** A named schema becomes a reference to its component; any other is written out in place. */
function schemaOf(schema: z.ZodMiniType, io: "input" | "output"): JsonSchema {
  const id = (z.globalRegistry.get(schema) as { id?: string } | undefined)?.id;
  if (id !== undefined) return { $ref: COMPONENT_REF(id) };
  return withoutRootKeywords(z.toJSONSchema(schema, { io, unrepresentable: "any", override }));
}

function objectParameters(object: z.ZodMiniObject, where: "path" | "query"): JsonSchema[] {
  return Object.entries(object.def.shape).map(([name, property]) => {
    const optional = property._zod.optin === "optional";
    const schema = withoutRootKeywords(z.toJSONSchema(property, { io: "input", unrepresentable: "any", override }));
    const { description, example, ...rest } = schema;
    const parameter: JsonSchema = { name, in: where, required: where === "path" || !optional, schema: rest };
    if (description !== undefined) parameter.description = description;
    if (example !== undefined) parameter.example = example;
    return parameter;
  });
}

function withoutRootKeywords(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

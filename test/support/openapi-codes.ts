import document from "../../src/api/openapi.json";

/**
 * What the committed OpenAPI document says of a request's problem answers:
 * the operation a method and path reach, and the `code` enum of each of its
 * problem responses. Tests check the server's answers against these, so a
 * code the server can answer that the document leaves out fails a test.
 */

interface Schema {
  readonly $ref?: string;
  readonly allOf?: readonly Schema[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly enum?: readonly unknown[];
}

interface Response {
  readonly content?: Readonly<Record<string, { readonly schema?: Schema }>>;
}

export interface DocumentedOperation {
  readonly operationId: string;
  readonly responses: Readonly<Record<string, Response>>;
}

const paths = document.paths as unknown as Readonly<Record<string, Readonly<Record<string, DocumentedOperation>>>>;

/** Each path template as the router matches it: a parameter is one non-empty segment (a lookup's key may be empty). */
const TEMPLATES = Object.entries(paths).map(([path, item]) => {
  const pattern = path
    .split(/(\{\w+\})/)
    .map((part) =>
      part === "{key}" ? "[^/]*" : /^\{\w+\}$/.test(part) ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return { pattern: new RegExp(`^${pattern}$`), item };
});

/** The operation the document lists for a method and a request path (as the server sees it), if any. */
export function documentedOperation(method: string, pathname: string): DocumentedOperation | undefined {
  const template = TEMPLATES.find(({ pattern }) => pattern.test(pathname));
  return template?.item[method.toLowerCase()];
}

/**
 * The problem codes an operation documents for a status: its Problem
 * schema's `code` enum. Undefined when it documents no such status, or
 * documents it without an enum.
 */
export function documentedCodes(
  operation: { readonly responses: Readonly<Record<string, unknown>> },
  status: number,
): readonly string[] | undefined {
  const response = operation.responses[String(status)] as Response | undefined;
  const schema = response?.content?.["application/problem+json"]?.schema;
  const code = schema?.allOf?.find((part) => part.properties?.code !== undefined)?.properties?.code;
  return code?.enum as readonly string[] | undefined;
}

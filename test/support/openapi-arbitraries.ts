import fc from "fast-check";
import { codePointLength } from "../../src/lib/text.ts";

/**
 * fast-check arbitraries for values a JSON Schema allows, for the subset of
 * JSON Schema the OpenAPI document uses (objects, strings with patterns and
 * lengths, integers with bounds, enums, anyOf, nullable types, $ref to
 * components). Lengths count code points, as JSON Schema does. Strings are
 * well-formed Unicode: JSON text cannot carry a lone surrogate portably.
 */

export type JsonSchema = Readonly<Record<string, unknown>>;

export interface SchemaContext {
  readonly components: Readonly<Record<string, JsonSchema>>;
  /** Arbitraries to use instead, by property name (e.g. only accounts that exist). */
  readonly overrides?: Readonly<Record<string, fc.Arbitrary<unknown>>>;
}

export function arbitraryFor(schema: JsonSchema, ctx: SchemaContext, name?: string): fc.Arbitrary<unknown> {
  const override = name === undefined ? undefined : ctx.overrides?.[name];
  if (override !== undefined) return override;
  if (typeof schema.$ref === "string") {
    const target = ctx.components[schema.$ref.replace("#/components/schemas/", "")];
    if (target === undefined) throw new Error(`unknown $ref ${schema.$ref}`);
    return arbitraryFor(target, ctx, name);
  }
  if (Array.isArray(schema.anyOf)) {
    const { anyOf, ...shared } = schema;
    return fc.oneof(...(anyOf as JsonSchema[]).map((option) => arbitraryFor({ ...shared, ...option }, ctx, name)));
  }
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ("const" in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.type)) {
    return fc.oneof(...(schema.type as string[]).map((type) => arbitraryFor({ ...schema, type }, ctx, name)));
  }
  switch (schema.type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return integer(schema);
    case "string":
      return string(schema);
    case "object":
      return object(schema, ctx);
    case "array": {
      const minLength = typeof schema.minItems === "number" ? schema.minItems : 0;
      const maxLength = Math.max(minLength, Math.min(typeof schema.maxItems === "number" ? schema.maxItems : 3, 3));
      return fc.array(arbitraryFor(schema.items as JsonSchema, ctx), { minLength, maxLength });
    }
    default:
      throw new Error(`no arbitrary for ${JSON.stringify(schema)}`);
  }
}

function integer(schema: JsonSchema): fc.Arbitrary<number> {
  const min = typeof schema.minimum === "number" ? schema.minimum : -1_000_000;
  const max = typeof schema.maximum === "number" ? schema.maximum : 1_000_000;
  // The edges, and small values, where most bugs and most valid business outcomes are.
  return fc.oneof(
    fc.constantFrom(min, max),
    fc.integer({ min, max: Math.min(max, min + 10_000) }),
    fc.integer({ min, max }),
  );
}

function string(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
  const maxLength = typeof schema.maxLength === "number" ? schema.maxLength : 40;
  if (typeof schema.pattern === "string") {
    const full = new RegExp(schema.pattern);
    // fast-check cannot generate from lookaheads: generate without them, keep what the whole pattern matches.
    const generator = new RegExp(schema.pattern.replace(/\(\?![^()]*(?:\([^()]*\)[^()]*)*\)/g, ""));
    return fc
      .stringMatching(generator)
      .filter((text) => full.test(text) && codePointLength(text) >= minLength && codePointLength(text) <= maxLength);
  }
  if (schema.format === "date-time") return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
  return fc.string({ unit: "binary", minLength, maxLength });
}

function object(schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  if (Object.keys(properties).length > 0) {
    const shape = Object.fromEntries(
      Object.entries(properties).map(([key, property]) => [key, arbitraryFor(property, ctx, key)]),
    );
    return fc.record(shape, { requiredKeys: [...required] });
  }
  const values = schema.additionalProperties;
  if (values === undefined || values === false || values === true) return fc.constant({});
  const names = (schema.propertyNames ?? {}) as JsonSchema;
  const forbidden = (names.not as { const?: string } | undefined)?.const;
  const key = string({ ...names, not: undefined }).filter((text) => text !== forbidden);
  const maxKeys = typeof schema.maxProperties === "number" ? schema.maxProperties : 5;
  return fc.dictionary(key, arbitraryFor(values as JsonSchema, ctx), { maxKeys, noNullPrototype: true });
}

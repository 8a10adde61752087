import { UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';

/**
 * A client's JSON schema as node-llama-cpp's grammar builder must get it, or a 400 naming the
 * keyword it could not enforce (`param` is where the schema sits: `response_format.json_schema.schema`,
 * `tools[0].function.parameters`; the error's param goes on from there, e.g.
 * `….properties.n.minimum`).
 *
 * The builder reads a subset of JSON Schema (docs/engine-notes.md) and silently drops the rest, so a
 * reply could come back `finish_reason: stop` and still fail the schema. Here:
 * - rewritten into that subset: `anyOf` → `oneOf` (it turns `anyOf` into `null`), `definitions` →
 *   `$defs` and `#/definitions/x` → `#/$defs/x` (what zod-to-json-schema emits; the builder reads
 *   `$defs` only), a `type` array → a `oneOf` of one schema per type (the builder drops every other
 *   keyword of a multi-type schema), `items: false` after `prefixItems` → `maxItems`, `items: true`
 *   dropped, an `allOf` of one schema or of plain object schemas merged, and an integer with both
 *   bounds (`minimum`/`maximum`/`exclusive…`, optional `multipleOf`) spanning at most
 *   1,000 values → the `enum` of them (bounds wider than any integer the grammar writes are dropped);
 * - refused as `unsupported_parameter`: any other value constraint it would drop (`pattern`, other
 *   numeric bounds, `not`, `if`, `patternProperties`, `uniqueItems`…), a `format` other than date,
 *   time and date-time, a `$ref` it cannot resolve (only `#/$defs/…` and `#/definitions/…` of a
 *   declared name), keywords beside `$ref` or `oneOf`/`anyOf`, `false` schemas, objects and arrays
 *   in `enum`/`const`;
 * - refused as `invalid_value`: what is not a valid schema (`type: "foo"`, `type: []`, `enum: []`,
 *   `required` naming a property that is not declared, bounds that contradict each other).
 * Annotations (title, description, examples, default, $schema, $id, $comment…) and unknown
 * keywords are left alone: they constrain nothing.
 *
 * Only a `strict` schema (`strict: true` on the format or the tool) is held to that: without it
 * OpenAI promises no more than its best effort, so the value constraints the grammar cannot hold
 * (`pattern`, number bounds, formats…) are dropped rather than refused, and the grammar still keeps
 * the reply to the schema's shape. What it cannot shape at all is refused either way.
 */
export function engineSchema(schema: unknown, param: string, strict = true): unknown {
  return rewrite(schema, param, new Set(), strict);
}

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
const FORMATS = new Set(['date', 'time', 'date-time']);
const ANNOTATIONS = new Set([
  'title', 'description', 'examples', 'default', '$schema', '$id', '$comment', '$anchor', 'deprecated', 'readOnly', 'writeOnly',
  'contentMediaType', 'contentEncoding', 'nullable',
]);
/** Keywords the builder drops, by the instance type they constrain ('any': every type). */
const DROPPED: Record<string, string> = {
  pattern: 'string',
  minimum: 'number', maximum: 'number', exclusiveMinimum: 'number', exclusiveMaximum: 'number', multipleOf: 'number',
  contains: 'array', minContains: 'array', maxContains: 'array', uniqueItems: 'array', unevaluatedItems: 'array', additionalItems: 'array',
  patternProperties: 'object', propertyNames: 'object', dependentRequired: 'object', dependentSchemas: 'object', dependencies: 'object', unevaluatedProperties: 'object',
  not: 'any', if: 'any', then: 'any', else: 'any', $dynamicRef: 'any', $recursiveRef: 'any', contentSchema: 'any',
};
const NUMERIC_BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const MAX_ENUMERATED_INTEGERS = 1000;
/** The largest integer the grammar writes (15 digits, local-model.ts): a bound beyond it always holds. */
export const GRAMMAR_INTEGER_LIMIT = 999_999_999_999_999;

type Schema = Record<string, unknown>;

function unsupported(param: string, why: string): never {
  throw new UnsupportedFeatureError(`The local engine cannot enforce this JSON schema: ${why} ('${param}').`, param);
}

function invalid(param: string, why: string): never {
  throw new ValidationError(`Invalid JSON schema: ${why} ('${param}').`, param);
}

function isPlain(value: unknown): value is Schema {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `defs`: the `$defs` names in scope, as the builder resolves them (each `$defs` adds to its parent's). */
function rewrite(schema: unknown, param: string, defs: ReadonlySet<string>, strict: boolean): unknown {
  if (schema === true) return {};
  if (schema === false) unsupported(param, 'a `false` schema allows no value at all');
  if (!isPlain(schema)) invalid(param, 'a schema must be an object or a boolean');
  let node: Schema = { ...schema };

  if ('definitions' in node) {
    if (!isPlain(node.definitions)) invalid(`${param}.definitions`, 'must be an object of schemas');
    const declared = node.$defs;
    const clash = isPlain(declared) ? Object.keys(node.definitions).find((name) => Object.hasOwn(declared, name)) : undefined;
    if (clash !== undefined) unsupported(`${param}.definitions.${clash}`, 'a name declared in both `definitions` and `$defs`');
    node.$defs = { ...(isPlain(node.$defs) ? node.$defs : {}), ...node.definitions };
    delete node.definitions;
  }
  let scope = defs;
  if ('$defs' in node) {
    if (!isPlain(node.$defs)) invalid(`${param}.$defs`, 'must be an object of schemas');
    scope = new Set([...defs, ...Object.keys(node.$defs)]);
    const inScope = scope;
    node.$defs = Object.fromEntries(Object.entries(node.$defs).map(([name, sub]) => [name, rewrite(sub, `${param}.$defs.${name}`, inScope, strict)]));
  }

  if ('allOf' in node) node = mergeAllOf(node, param);

  for (const key of Object.keys(node)) {
    if (ANNOTATIONS.has(key)) delete node[key];
  }

  if ('$ref' in node) {
    const ref = node.$ref;
    if (typeof ref !== 'string') invalid(`${param}.$ref`, 'must be a string');
    const name = /^#\/(?:\$defs|definitions)\/([^/]+)$/.exec(ref)?.[1]?.replace(/~1/g, '/').replace(/~0/g, '~');
    if (name === undefined) unsupported(`${param}.$ref`, `the reference "${ref}" (only "#/$defs/<name>" and "#/definitions/<name>" are resolved)`);
    if (!scope.has(name)) unsupported(`${param}.$ref`, `the reference "${ref}" names no declared definition`);
    const beside = Object.keys(node).find((key) => key !== '$ref' && key !== '$defs');
    if (beside !== undefined) unsupported(`${param}.${beside}`, 'keywords beside `$ref`');
    return { ...node, $ref: `#/$defs/${name}` };
  }

  for (const union of ['anyOf', 'oneOf'] as const) {
    if (!(union in node)) continue;
    const branches = node[union];
    if (!Array.isArray(branches) || branches.length === 0) invalid(`${param}.${union}`, 'must be a non-empty array of schemas');
    const beside = Object.keys(node).find((key) => key !== union && key !== '$defs');
    if (beside !== undefined) unsupported(`${param}.${beside}`, `keywords beside \`${union}\``);
    return { ...(node.$defs ? { $defs: node.$defs } : {}), oneOf: branches.map((branch, index) => rewrite(branch, `${param}.${union}[${index}]`, scope, strict)) };
  }

  if ('const' in node) {
    checkLiteral(node.const, `${param}.const`);
    return node;
  }
  if ('enum' in node) {
    const values = node.enum;
    if (!Array.isArray(values) || values.length === 0) invalid(`${param}.enum`, 'must be a non-empty array');
    values.forEach((value, index) => checkLiteral(value, `${param}.enum[${index}]`));
    return node;
  }

  let types: string[] | undefined;
  if ('type' in node) {
    const type = node.type;
    types = Array.isArray(type) ? [...new Set(type as unknown[])].map(String) : [String(type)];
    if ((Array.isArray(type) ? type : [type]).some((one) => typeof one !== 'string' || !TYPES.has(one))) {
      invalid(`${param}.type`, `must be one of ${[...TYPES].join(', ')}, or a non-empty array of them`);
    }
    if (types.length === 0) invalid(`${param}.type`, 'must not be an empty array');
    if (types.length > 1) {
      const { $defs, ...rest } = node;
      return {
        ...($defs ? { $defs } : {}),
        oneOf: types.map((one) => rewrite({ ...rest, type: one }, param, scope, strict)),
      };
    }
    node.type = types[0];
  }
  const type = types?.[0];

  for (const key of Object.keys(node)) {
    const applies = DROPPED[key];
    if (applies === undefined) continue;
    if (key === 'uniqueItems' && node.uniqueItems === false) continue;
    // The grammar writes no property that is not declared, unless additionalProperties allows it.
    if (key === 'unevaluatedProperties' && node.unevaluatedProperties === false && (node.additionalProperties ?? false) === false) continue;
    if (applies === 'any' || applies === type || (applies === 'number' && type === 'integer')) {
      if (type === 'integer' && NUMERIC_BOUNDS.includes(key)) return integerEnum(node, param, strict);
      // Not strict: OpenAI's best effort, as without `strict: true`; the grammar keeps the shape.
      if (!strict) delete node[key];
      else unsupported(`${param}.${key}`, `\`${key}\` is not enforced by the engine's grammar`);
    }
  }

  if (type === 'string') {
    if (node.format !== undefined && !FORMATS.has(String(node.format))) {
      if (!strict) delete node.format;
      else unsupported(`${param}.format`, `the format "${String(node.format)}" (only ${[...FORMATS].join(', ')} are enforced)`);
    }
    checkBounds(node, 'minLength', 'maxLength', param);
  } else if (type === 'object') {
    const properties = node.properties ?? {};
    if (!isPlain(properties)) invalid(`${param}.properties`, 'must be an object of schemas');
    node.properties = Object.fromEntries(Object.entries(properties).map(([name, sub]) => [name, rewrite(sub, `${param}.properties.${name}`, scope, strict)]));
    if (node.required !== undefined) {
      if (!Array.isArray(node.required)) invalid(`${param}.required`, 'must be an array of property names');
      // The grammar writes the declared properties (every one of them) and no others.
      const missing = node.required.findIndex((name) => typeof name !== 'string' || !Object.hasOwn(properties, name));
      if (missing !== -1) invalid(`${param}.required[${missing}]`, `"${String(node.required[missing])}" is not declared in \`properties\``);
    }
    if (isPlain(node.additionalProperties) || node.additionalProperties === true) {
      node.additionalProperties = node.additionalProperties === true ? true : rewrite(node.additionalProperties, `${param}.additionalProperties`, scope, strict);
    }
    const count = Object.keys(properties).length;
    if (typeof node.maxProperties === 'number' && node.maxProperties < count) {
      unsupported(`${param}.maxProperties`, `the engine writes every declared property (${count}), more than maxProperties`);
    }
    checkBounds(node, 'minProperties', 'maxProperties', param);
  } else if (type === 'array') {
    let prefix: unknown[] | undefined;
    if (node.prefixItems !== undefined) {
      if (!Array.isArray(node.prefixItems)) invalid(`${param}.prefixItems`, 'must be an array of schemas');
      prefix = node.prefixItems.map((item, index) => rewrite(item, `${param}.prefixItems[${index}]`, scope, strict));
      node.prefixItems = prefix;
    }
    if (node.items === true) delete node.items;
    else if (node.items === false) {
      delete node.items;
      const most = prefix?.length ?? 0;
      node.maxItems = typeof node.maxItems === 'number' ? Math.min(node.maxItems, most) : most;
    } else if (node.items !== undefined) node.items = rewrite(node.items, `${param}.items`, scope, strict);
    if (prefix && typeof node.maxItems === 'number' && node.maxItems < prefix.length) {
      unsupported(`${param}.maxItems`, `fewer items than the ${prefix.length} of prefixItems`);
    }
    checkBounds(node, 'minItems', 'maxItems', param);
  }
  return node;
}

function checkLiteral(value: unknown, param: string): void {
  if (value !== null && typeof value === 'object') unsupported(param, 'objects and arrays as enum or const values');
}

function checkBounds(node: Schema, min: string, max: string, param: string): void {
  const low = node[min];
  const high = node[max];
  if (low !== undefined && (typeof low !== 'number' || low < 0)) invalid(`${param}.${min}`, 'must be a non-negative number');
  if (high !== undefined && (typeof high !== 'number' || high < 0)) invalid(`${param}.${max}`, 'must be a non-negative number');
  if (typeof low === 'number' && typeof high === 'number' && low > high) invalid(`${param}.${min}`, `${min} is above ${max}`);
}

/** An integer with both bounds, as the enum of its values: what the grammar can hold it to. */
function integerEnum(node: Schema, param: string, strict: boolean): Schema {
  const number = (key: string) => {
    const value = node[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`${param}.${key}`, 'must be a number');
    return value;
  };
  const bounds = [number('minimum'), number('exclusiveMinimum'), number('maximum'), number('exclusiveMaximum')];
  const step = number('multipleOf');
  if (step !== undefined && step <= 0) invalid(`${param}.multipleOf`, 'must be above 0');
  const low = Math.max(bounds[0] ?? -Infinity, bounds[1] === undefined ? -Infinity : Math.floor(bounds[1]) + 1);
  const high = Math.min(bounds[2] ?? Infinity, bounds[3] === undefined ? Infinity : Math.ceil(bounds[3]) - 1);
  const from = Math.ceil(low);
  const to = Math.floor(high);
  // Bounds around everything the grammar can write (zod's ±MAX_SAFE_INTEGER for `.int()`) hold as they are.
  if (step === undefined && from <= -GRAMMAR_INTEGER_LIMIT && to >= GRAMMAR_INTEGER_LIMIT) {
    const { minimum: _a, maximum: _b, exclusiveMinimum: _c, exclusiveMaximum: _d, ...rest } = node;
    return rest;
  }
  if (!Number.isFinite(from) || !Number.isFinite(to) || to - from >= MAX_ENUMERATED_INTEGERS) {
    if (!strict) {
      const { minimum: _a, maximum: _b, exclusiveMinimum: _c, exclusiveMaximum: _d, multipleOf: _e, ...rest } = node;
      return rest;
    }
    const key = NUMERIC_BOUNDS.find((name) => name in node)!;
    unsupported(`${param}.${key}`, `integer bounds are enforced only when both are given and span at most ${MAX_ENUMERATED_INTEGERS} values`);
  }
  const values: number[] = [];
  for (let value = from; value <= to; value++) if (step === undefined || Number.isInteger(value / step)) values.push(value);
  if (values.length === 0) invalid(`${param}.${NUMERIC_BOUNDS.find((name) => name in node)!}`, 'no integer satisfies these bounds');
  return { ...(node.$defs ? { $defs: node.$defs } : {}), enum: values };
}

/**
 * `allOf` as one schema, where that is plain: one member (merged into its parent, as an `allOf`
 * wrapping a `$ref` to add a description is), or object schemas with disjoint properties and no
 * `additionalProperties: false` (which would forbid the others' properties).
 */
function mergeAllOf(node: Schema, param: string): Schema {
  const members = node.allOf;
  if (!Array.isArray(members) || members.length === 0) invalid(`${param}.allOf`, 'must be a non-empty array of schemas');
  const { allOf: _allOf, ...merged } = node;
  const result: Schema = { ...merged };
  members.forEach((member, index) => {
    const at = `${param}.allOf[${index}]`;
    if (!isPlain(member)) unsupported(at, '`allOf` members other than object schemas');
    if (members.length > 1) {
      const objectLike = member.type === 'object' || (member.type === undefined && 'properties' in member);
      if (!objectLike || '$ref' in member || 'allOf' in member || 'anyOf' in member || 'oneOf' in member) {
        unsupported(at, '`allOf` of anything but one schema or plain object schemas');
      }
      if (member.additionalProperties === false) unsupported(`${at}.additionalProperties`, 'false inside an `allOf` of several schemas (no instance of the others would pass)');
    }
    for (const [key, value] of Object.entries(member)) {
      if (ANNOTATIONS.has(key)) continue;
      if (key === 'properties' && isPlain(value)) {
        const own = isPlain(result.properties) ? result.properties : {};
        const clash = Object.keys(value).find((name) => Object.hasOwn(own, name));
        if (clash !== undefined) unsupported(`${at}.properties.${clash}`, 'a property declared by two members of `allOf`');
        result.properties = { ...own, ...value };
      } else if (key === 'required' && Array.isArray(value)) {
        result.required = [...new Set([...(Array.isArray(result.required) ? result.required : []), ...value])];
      } else if (key in result && JSON.stringify(result[key]) !== JSON.stringify(value)) {
        unsupported(`${at}.${key}`, 'a keyword `allOf` members (or the schema around them) set differently');
      } else {
        result[key] = value;
      }
    }
  });
  if (members.length > 1) result.type = 'object';
  return result;
}

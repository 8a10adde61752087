// Judging JSON that the embedded engine produced under a grammar: schema validation with Ajv,
// random small schemas for property tests, and a check that a reply cut short by the token limit
// is still the beginning of a valid JSON value.
import { Ajv, type ValidateFunction } from 'ajv';
import fc from 'fast-check';

const ajv = new Ajv({ strict: true, allErrors: true });

/** Compiles once per schema text. */
const compiled = new Map<string, ValidateFunction>();
export function validatorFor(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) return known;
  const validate = ajv.compile(schema);
  compiled.set(key, validate);
  return validate;
}

/** Throws with Ajv's own words when `value` does not validate. */
export function assertValid(schema: object, value: unknown, context = ''): void {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    throw new Error(`${context}${JSON.stringify(value)} does not match ${JSON.stringify(schema)}: ${ajv.errorsText(validate.errors)}`);
  }
}

const propertyName = fc.constantFrom('a', 'b', 'id', 'name', 'count', 'ok', 'tags', 'kind', 'x', 'y', 'price', 'items', 'anyOf', 'type');
const word = fc.stringMatching(/^[a-z][a-z0-9 _-]{0,7}$/);

/** A leaf: every value the grammar can produce for it is bounded in length. */
const leafSchema: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }))
    .map(([a, b]) => ({ type: 'string', minLength: Math.min(a, b, 3), maxLength: Math.max(a, b) })),
  fc.record({ type: fc.constant('string'), maxLength: fc.integer({ min: 0, max: 12 }) }),
  fc.uniqueArray(word, { minLength: 1, maxLength: 4 }).map((values) => ({ enum: values })),
  fc.constant({ type: 'boolean' }),
  fc.constant({ type: 'integer' }),
  fc.constant({ type: 'number' }),
);

function valueSchema(depth: number): fc.Arbitrary<Record<string, unknown>> {
  if (depth <= 0) return leafSchema;
  return fc.oneof(
    { weight: 3, arbitrary: leafSchema },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('array'), items: valueSchema(depth - 1), maxItems: fc.integer({ min: 0, max: 3 }) }) },
    { weight: 1, arbitrary: objectSchema(depth - 1) },
  );
}

/**
 * Small object schemas: strings with maxLength <= 12, enums, booleans, integers, numbers, arrays
 * with maxItems <= 3 and nested objects, every property required, no additional properties.
 */
export function objectSchema(depth = 2): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .uniqueArray(fc.tuple(propertyName, valueSchema(depth)), { minLength: 1, maxLength: 4, selector: ([name]) => name })
    .map((entries) => ({
      type: 'object',
      properties: Object.fromEntries(entries),
      required: entries.map(([name]) => name),
      additionalProperties: false,
    }));
}

/**
 * True when `text` is the beginning of some valid JSON value (or a whole one): what a reply held by
 * a JSON grammar but cut by the token limit must still be.
 */
export function isJsonPrefix(text: string): boolean {
  let i = 0;
  const END = Symbol('end');
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  // Each parser returns true when it consumed a whole value, END when the text ran out inside it;
  // it throws on anything invalid.
  const fail = (): never => {
    throw new Error(`invalid at ${i}`);
  };
  const literal = (word: string): true | typeof END => {
    for (const char of word) {
      if (i >= text.length) return END;
      if (text[i++] !== char) fail();
    }
    return true;
  };
  const string = (): true | typeof END => {
    i++; // the opening quote
    while (i < text.length) {
      const char = text[i++]!;
      if (char === '"') return true;
      if (char < ' ') fail();
      if (char === '\\') {
        if (i >= text.length) return END;
        const escape = text[i++]!;
        if (escape === 'u') {
          for (let k = 0; k < 4; k++) {
            if (i >= text.length) return END;
            if (!/[0-9a-fA-F]/.test(text[i++]!)) fail();
          }
        } else if (!'"\\/bfnrt'.includes(escape)) fail();
      }
    }
    return END;
  };
  const number = (): true | typeof END => {
    const match = /^-?(0|[1-9][0-9]*)?(\.[0-9]*)?([eE][-+]?[0-9]*)?/.exec(text.slice(i))!;
    i += match[0].length;
    if (i >= text.length) return END; // a number can always go on
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(match[0])) fail();
    return true;
  };
  const value = (): true | typeof END => {
    ws();
    if (i >= text.length) return END;
    const char = text[i]!;
    if (char === '{') return container('}', true);
    if (char === '[') return container(']', false);
    if (char === '"') return string();
    if (char === 't') return literal('true');
    if (char === 'f') return literal('false');
    if (char === 'n') return literal('null');
    if (char === '-' || (char >= '0' && char <= '9')) return number();
    return fail();
  };
  const container = (close: string, keyed: boolean): true | typeof END => {
    i++;
    ws();
    if (i >= text.length) return END;
    if (text[i] === close) {
      i++;
      return true;
    }
    for (;;) {
      if (keyed) {
        ws();
        if (i >= text.length) return END;
        if (text[i] !== '"') fail();
        if (string() === END) return END;
        ws();
        if (i >= text.length) return END;
        if (text[i++] !== ':') fail();
      }
      if (value() === END) return END;
      ws();
      if (i >= text.length) return END;
      const next = text[i++];
      if (next === close) return true;
      if (next !== ',') fail();
    }
  };
  try {
    const result = value();
    if (result === END) return true;
    ws();
    return i === text.length;
  } catch {
    return false;
  }
}

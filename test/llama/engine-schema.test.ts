// JSON-schema keywords outside the grammar builder's subset: rewritten into it where that is exact,
// a 400 naming the keyword otherwise, never dropped (a reply that says `stop` but fails the schema).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { engineSchema } from '../../src/providers/llama/engine-schema.js';
import { useLlamaServer } from '../helpers/llama-server.js';
import { assertValid } from '../helpers/llama-json.js';

const MODEL = 'local/tiny';
const AT = 'response_format.json_schema.schema';
const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
  ...extra,
});

/**
 * What the engine cannot enforce, with the error a strict schema gets: [schema, code, param under
 * the schema]. The value constraints among them (`DROPPED_WHEN_NOT_STRICT`) are dropped from a
 * schema that is not strict, as OpenAI promises no more than its best effort there.
 */
const REFUSED: Array<[string, unknown, 'unsupported_parameter' | 'invalid_value', string]> = [
  ['minimum on a number', object({ n: { type: 'number', minimum: 0 } }), 'unsupported_parameter', '.properties.n.minimum'],
  ['maximum on a number', object({ n: { type: 'number', maximum: 3 } }), 'unsupported_parameter', '.properties.n.maximum'],
  ['exclusiveMaximum', object({ n: { type: 'number', exclusiveMaximum: 3 } }), 'unsupported_parameter', '.properties.n.exclusiveMaximum'],
  ['multipleOf', object({ n: { type: 'number', multipleOf: 2 } }), 'unsupported_parameter', '.properties.n.multipleOf'],
  ['an integer with one bound', object({ n: { type: 'integer', minimum: 0 } }), 'unsupported_parameter', '.properties.n.minimum'],
  ['pattern', object({ s: { type: 'string', pattern: '^a+$', maxLength: 4 } }), 'unsupported_parameter', '.properties.s.pattern'],
  ['a format it does not know', object({ s: { type: 'string', format: 'email' } }), 'unsupported_parameter', '.properties.s.format'],
  ['if/then', object({ a: { type: 'boolean' } }, { if: { properties: { a: { const: true } } }, then: { required: ['a'] } }), 'unsupported_parameter', '.if'],
  ['not', object({ a: { type: 'boolean', not: { const: true } } }), 'unsupported_parameter', '.properties.a.not'],
  ['uniqueItems', object({ l: { type: 'array', items: { type: 'boolean' }, uniqueItems: true } }), 'unsupported_parameter', '.properties.l.uniqueItems'],
  ['patternProperties', { type: 'object', patternProperties: { '^x': { type: 'boolean' } } }, 'unsupported_parameter', '.patternProperties'],
  ['allOf of objects that forbid each other\'s properties', { allOf: [object({ a: { type: 'boolean' } }), object({ b: { type: 'boolean' } })] }, 'unsupported_parameter', '.allOf[0].additionalProperties'],
  ['type "foo"', object({ a: { type: 'foo' } }), 'invalid_value', '.properties.a.type'],
  ['type []', object({ a: { type: [] } }), 'invalid_value', '.properties.a.type'],
  ['enum []', object({ a: { enum: [] } }), 'invalid_value', '.properties.a.enum'],
  ['a $ref to a missing $defs entry', object({ a: { $ref: '#/$defs/nope' } }), 'unsupported_parameter', '.properties.a.$ref'],
  ['a $ref to an external URL', object({ a: { $ref: 'https://example.com/schema.json' } }), 'unsupported_parameter', '.properties.a.$ref'],
  ['keywords beside $ref', object({ a: { $ref: '#/$defs/b', maxLength: 3 } }, { $defs: { b: { type: 'string' } } }), 'unsupported_parameter', '.properties.a.maxLength'],
  ['required naming an undeclared property', { type: 'object', properties: { a: { type: 'boolean' } }, required: ['a', 'b'] }, 'invalid_value', '.required[1]'],
  ['an object in enum', object({ a: { enum: [{ x: 1 }] } }), 'unsupported_parameter', '.properties.a.enum[0]'],
  ['a false schema', object({ a: false }), 'unsupported_parameter', '.properties.a'],
];

const DROPPED_WHEN_NOT_STRICT = new Set([
  'minimum on a number', 'maximum on a number', 'exclusiveMaximum', 'multipleOf', 'an integer with one bound', 'pattern',
  'a format it does not know', 'if/then', 'not', 'uniqueItems', 'patternProperties',
]);

test('engineSchema refuses what the grammar would drop, naming the keyword; not strict, it drops the value constraints only', () => {
  for (const [what, schema, code, under] of REFUSED) {
    if (DROPPED_WHEN_NOT_STRICT.has(what)) assert.doesNotThrow(() => engineSchema(schema, AT, false), what);
    else assert.throws(() => engineSchema(schema, AT, false), (error: { param?: string }) => error.param === AT + under, `${what}, not strict`);
    assert.throws(
      () => engineSchema(schema, AT),
      (error: { code?: string; param?: string; status?: number }) => {
        assert.equal(error.status, 400, what);
        assert.equal(error.code, code, what);
        assert.equal(error.param, AT + under, what);
        return true;
      },
      what,
    );
  }
});

test('engineSchema leaves annotations, supported formats and property names alone', () => {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://example.com/x',
    title: 'X',
    description: 'd',
    ...object({
      day: { type: 'string', format: 'date', description: 'when', examples: ['2024-01-01'] },
      at: { type: 'string', format: 'date-time' },
      minimum: { type: 'boolean', default: true, title: 'a property called minimum' },
      anyOf: { enum: ['a', 'b'], $comment: 'a property called anyOf' },
    }),
  };
  const out = engineSchema(schema, AT) as { properties: Record<string, unknown> };
  assert.deepEqual(Object.keys(out.properties), ['day', 'at', 'minimum', 'anyOf']);
  assert.deepEqual(out.properties.anyOf, { enum: ['a', 'b'] });
});

test('engineSchema rewrites into the subset: definitions, anyOf, type arrays, items false, allOf, integer ranges', () => {
  assert.deepEqual(
    engineSchema({ definitions: { n: { type: 'boolean' } }, ...object({ a: { $ref: '#/definitions/n' } }) }, AT),
    { $defs: { n: { type: 'boolean' } }, ...object({ a: { $ref: '#/$defs/n' } }) },
  );
  assert.deepEqual(engineSchema({ anyOf: [{ type: 'null' }, { type: 'boolean' }] }, AT), { oneOf: [{ type: 'null' }, { type: 'boolean' }] });
  assert.deepEqual(engineSchema({ type: ['string', 'null'], maxLength: 3 }, AT), { oneOf: [{ type: 'string', maxLength: 3 }, { type: 'null', maxLength: 3 }] });
  assert.deepEqual(engineSchema({ type: 'array', prefixItems: [{ type: 'boolean' }], items: false }, AT), { type: 'array', prefixItems: [{ type: 'boolean' }], maxItems: 1 });
  assert.deepEqual(engineSchema({ type: 'integer', minimum: 0, maximum: 4 }, AT), { enum: [0, 1, 2, 3, 4] });
  assert.deepEqual(engineSchema({ type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10, multipleOf: 3 }, AT), { enum: [3, 6, 9] });
  // zod's `.int()` bounds: wider than any integer the grammar writes, so they hold as they are.
  assert.deepEqual(engineSchema({ type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }, AT), { type: 'integer' });
  assert.deepEqual(engineSchema({ allOf: [{ $ref: '#/$defs/n' }], description: 'wrapped', $defs: { n: { type: 'boolean' } } }, AT), { $defs: { n: { type: 'boolean' } }, $ref: '#/$defs/n' });
  assert.deepEqual(
    engineSchema({ allOf: [{ type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] }, { properties: { b: { type: 'null' } }, required: ['b'] }] }, AT),
    { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'null' } }, required: ['a', 'b'] },
  );
});

describe('llama engine: schema keywords over HTTP, response_format and tool parameters', () => {
  const engine = useLlamaServer([{ id: 'tiny', contextSize: 2048, parallel: 2 }]);
  const ajv = new Ajv2020({ strict: true, strictTuples: false, allowUnionTypes: true });


  test('every refused schema is a 400 with its param, as response_format and as a forced tool\'s parameters', async () => {
    for (const [what, schema, code, under] of REFUSED) {
      const format = await engine.client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 20, response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema: schema as Record<string, unknown> } } })
        .catch((caught: unknown) => caught);
      assert.equal((format as { status?: number }).status, 400, `${what}: ${String(format)}`);
      assert.equal((format as { code?: string }).code, code, what);
      assert.equal((format as { param?: string }).param, AT + under, what);
      const tool = await engine.client.chat.completions
        .create({
          model: MODEL,
          messages: [{ role: 'user', content: 'x' }],
          max_tokens: 20,
          tools: [{ type: 'function', function: { name: 'ok', parameters: object({}) } }, { type: 'function', function: { name: 't', strict: true, parameters: schema as Record<string, unknown> } }],
          tool_choice: { type: 'function', function: { name: 't' } },
        })
        .catch((caught: unknown) => caught);
      assert.equal((tool as { param?: string }).param, `tools[1].function.parameters${under}`, `${what} (tool): ${String(tool)}`);
    }
    const reply = await engine.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 3 });
    assert.equal(reply.choices[0]!.finish_reason, 'length');
  });

  test('not strict, a value constraint the grammar cannot hold is dropped: the reply still has the schema’s shape', async () => {
    const schema = object({ n: { type: 'integer', minimum: 0 }, s: { type: 'string', pattern: '^a+$', format: 'email', maxLength: 4 } });
    const shape = object({ n: { type: 'integer' }, s: { type: 'string', maxLength: 4 } });
    for (let seed = 1; seed <= 4; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 60,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      });
      const choice = reply.choices[0]!;
      if (choice.finish_reason === 'stop') assertValid(shape, JSON.parse(choice.message.content!), `seed ${seed}: `);
    }
    // Strict, the same schema is refused: its reply could not be held to it.
    await assert.rejects(
      engine.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 20, response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema } } }),
      (error: { status?: number; param?: string }) => error.status === 400 && error.param === `${AT}.properties.n.minimum`,
    );
  });

  test('definitions and #/definitions refs (what zodResponseFormat emits) are enforced, recursion included', async () => {
    // The shape of zodResponseFormat's output for a reused and a recursive (z.lazy) schema, bounded
    // so that a random model finishes it: an item under `definitions`, a tree that refers to itself.
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      ...object({
        a: { $ref: '#/definitions/item' },
        b: { $ref: '#/definitions/item' },
        tree: { $ref: '#/definitions/tree' },
        note: { type: ['string', 'null'], maxLength: 4 },
      }),
      definitions: {
        item: object({ name: { type: 'string', maxLength: 4 }, qty: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER } }),
        tree: object({ label: { enum: ['x', 'y'] }, kids: { type: 'array', items: { $ref: '#/definitions/tree' }, maxItems: 1 } }),
      },
    };
    let finished = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 400,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      });
      const choice = reply.choices[0]!;
      if (choice.finish_reason !== 'stop') continue; // a tree may nest past the budget
      finished++;
      assertValid(schema, JSON.parse(choice.message.content!), `seed ${seed}: `);
    }
    assert.ok(finished >= 4, `only ${finished} of 8 finished`);
  });

  test('integer bounds, type arrays and prefixItems with items false are enforced', async () => {
    const parameters = object({ a: { type: 'integer', minimum: 0, maximum: 9 } });
    for (let seed = 1; seed <= 6; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 80,
        tools: [{ type: 'function', function: { name: 'digit', parameters } }],
        tool_choice: { type: 'function', function: { name: 'digit' } },
      });
      const call = reply.choices[0]!.message.tool_calls![0]!;
      assert.ok(call.type === 'function');
      assertValid(parameters, JSON.parse(call.function.arguments), `seed ${seed}: `);
    }
    const schema = object({
      pair: { type: 'array', prefixItems: [{ type: 'boolean' }, { enum: ['a', 'b'] }], items: false },
      n: { type: ['integer', 'null'], minimum: 1, maximum: 3 },
      s: { type: ['string', 'boolean'], maxLength: 3 },
    });
    const validate = ajv.compile(schema);
    for (let seed = 1; seed <= 10; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 200,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      });
      const content = reply.choices[0]!.message.content!;
      assert.equal(reply.choices[0]!.finish_reason, 'stop', content);
      assert.ok(validate(JSON.parse(content)), `seed ${seed}: ${content} ${ajv.errorsText(validate.errors)}`);
    }
  });
});

// Non-ASCII text under a JSON grammar. The tiny model's vocabulary is ASCII: every other character
// is spelled in byte-fallback tokens. Banning all high bytes under a grammar (to keep a random model
// from writing invalid UTF-8) made a literal such as "Zürich" unwritable, and the grammar sampler's
// failure ended the server; now the bytes are held to valid UTF-8 one token at a time (utf8-guard.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nextHighBytes } from '../../src/providers/llama/utf8-guard.js';
import { useLlamaServer } from '../helpers/llama-server.js';
import { assertValid } from '../helpers/llama-json.js';

const MODEL = 'local/tiny';

test('nextHighBytes: a lead at a boundary, then exactly the continuations RFC 3629 allows', () => {
  const cases: Array<[number[], [number, number]]> = [
    [[], [0xc2, 0xf4]],
    [[0x41], [0xc2, 0xf4]],
    [[0xc3], [0x80, 0xbf]],
    [[0xc3, 0xbc], [0xc2, 0xf4]],
    [[0xe0], [0xa0, 0xbf]], // no overlong 3-byte forms
    [[0xed], [0x80, 0x9f]], // no surrogates
    [[0xe6], [0x80, 0xbf]],
    [[0xe6, 0x97], [0x80, 0xbf]],
    [[0xe6, 0x97, 0xa5], [0xc2, 0xf4]],
    [[0xf0], [0x90, 0xbf]], // no overlong 4-byte forms
    [[0xf4], [0x80, 0x8f]], // nothing past U+10FFFF
    [[0xf0, 0x9f], [0x80, 0xbf]],
    [[0xf0, 0x9f, 0x99], [0x80, 0xbf]],
    [[0xf0, 0x9f, 0x99, 0x82], [0xc2, 0xf4]],
    [[0xc3, 0xbc, 0xe6, 0x97], [0x80, 0xbf]],
  ];
  for (const [tail, range] of cases) assert.deepEqual(nextHighBytes(tail), range, tail.map((b) => b.toString(16)).join(' '));
  // Whatever the choices, bytes drawn within the ranges always decode without a replacement character.
  let state: number[] = [];
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    const [low, high] = nextHighBytes(state.slice(-3));
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    state.push(low + (seed % (high - low + 1)));
    if (state.length > 64 && nextHighBytes(state.slice(-3))[0] === 0xc2) {
      assert.ok(!Buffer.from(state).toString('utf8').includes('\uFFFD'), Buffer.from(state).toString('hex'));
      state = [];
    }
  }
});

describe('llama engine: non-ASCII literals and strings under a grammar', () => {
  const engine = useLlamaServer([{ id: 'tiny', contextSize: 1024, parallel: 2 }]);


  test('an enum of non-ASCII strings is written whole (the reviewer\'s request, then more seeds, streamed too)', async () => {
    const schema = { type: 'object', properties: { city: { enum: ['Zürich', 'Genève', '日本', '🙂', '€'] } }, required: ['city'], additionalProperties: false };
    const seen = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 40,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      });
      const choice = reply.choices[0]!;
      assert.equal(choice.finish_reason, 'stop', `seed ${seed}: ${choice.message.content}`);
      const value = JSON.parse(choice.message.content!) as { city: string };
      assertValid(schema, value, `seed ${seed}: `);
      seen.add(value.city);
    }
    assert.ok(seen.size >= 2, [...seen].join(', '));
    const stream = await engine.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      seed: 1,
      max_tokens: 40,
      stream: true,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assertValid(schema, JSON.parse(text));
  });

  test('a forced tool call whose parameters hold a non-ASCII const', async () => {
    const parameters = { type: 'object', properties: { c: { const: '日本' } }, required: ['c'], additionalProperties: false };
    for (const seed of [1, 2, 3]) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 80,
        tools: [{ type: 'function', function: { name: 't', parameters } }],
        tool_choice: 'required',
      });
      const call = reply.choices[0]!.message.tool_calls![0]!;
      assert.equal(reply.choices[0]!.finish_reason, 'tool_calls');
      assert.ok(call.type === 'function');
      assert.deepEqual(JSON.parse(call.function.arguments), { c: '日本' });
    }
  });

  test('free strings may hold non-ASCII characters, and never broken UTF-8', async () => {
    const schema = { type: 'object', properties: { s: { type: 'string', maxLength: 10 } }, required: ['s'], additionalProperties: false };
    let nonAscii = 0;
    for (let seed = 1; seed <= 16; seed++) {
      const reply = await engine.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        seed,
        max_tokens: 200,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
      });
      const content = reply.choices[0]!.message.content!;
      assert.equal(reply.choices[0]!.finish_reason, 'stop', content);
      assert.ok(!content.includes('\uFFFD'), `seed ${seed}: ${content}`);
      assertValid(schema, JSON.parse(content), `seed ${seed}: `);
      if ([...content].some((character) => character.codePointAt(0)! > 0x7f)) nonAscii++;
    }
    // Byte tokens are ~4% of the vocabulary: over 16 strings some must have been drawn.
    assert.ok(nonAscii > 0, 'no reply held a non-ASCII character');
  });
});

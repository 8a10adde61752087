// A forced tool call's JSON read as it is generated: the call starts once its name is written, its
// arguments go on piece by piece, the wrapper's brace never among them; cuts keep what was written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ForcedCallStream } from '../../src/providers/llama/forced-call-stream.js';

/** Feeds `text` in the given pieces; returns the name and every argument piece sent on. */
function feed(pieces: readonly string[], names: readonly string[] = ['get_weather', 'get_time']) {
  const stream = new ForcedCallStream(names);
  const sent: string[] = [];
  let name: string | undefined;
  let namedAfter = -1;
  pieces.forEach((piece, at) => {
    const out = stream.push(piece);
    if (out.name !== undefined) {
      assert.equal(name, undefined, 'the name is sent once');
      name = out.name;
      namedAfter = at;
    }
    if (out.arguments) sent.push(out.arguments);
  });
  const rest = stream.end();
  if (rest?.name !== undefined) name = rest.name;
  if (rest?.arguments) sent.push(rest.arguments);
  return { name, arguments: sent.join(''), pieces: sent, namedAfter, called: rest !== undefined };
}

test('the call starts when its name is written, and its arguments stream without the wrapper', () => {
  const text = '{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2], "note": "a } and a \\" inside"}}';
  const pieces = [...text];
  const read = feed(pieces);
  assert.equal(read.name, 'get_weather');
  assert.equal(read.arguments, '{"city": "Paris", "days": [1, 2], "note": "a } and a \\" inside"}');
  assert.ok(read.namedAfter < text.indexOf('Paris'), 'named before the arguments were written');
  assert.ok(read.pieces.length > 10, 'the arguments went on as they came');
});

test('any split of a call gives the same name and arguments', () => {
  const text = '{ "name" : "get_time" , "arguments" : { "zone" : "CET" , "n" : [ {}, [] ] } }';
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 12 }), (cuts) => {
      const at = [...new Set(cuts)].sort((a, b) => a - b);
      const pieces = [0, ...at].map((from, i) => text.slice(from, at[i] ?? text.length));
      const read = feed(pieces);
      assert.equal(read.name, 'get_time');
      assert.deepEqual(JSON.parse(read.arguments), { zone: 'CET', n: [{}, []] });
    }),
  );
});

test('a call cut by the token limit keeps what was written; a cut name is named only when one tool fits', () => {
  assert.deepEqual(feed(['{"name": "get_weather", "arguments": {"ci']).arguments, '{"ci');
  assert.equal(feed(['{"name": "get_weather", "argu']).name, 'get_weather');
  assert.equal(feed(['{"name": "get_weather", "argu']).arguments, '');
  assert.equal(feed(['{"name": "get_w']).name, 'get_weather');
  // "get_" fits both tools: no call at all, never one without a name.
  assert.equal(feed(['{"name": "get_']).called, false);
  assert.equal(feed(['{"na']).called, false);
  assert.equal(feed(['{"na'], ['only_tool']).name, 'only_tool');
});

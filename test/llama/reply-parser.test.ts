// The engine's reader of model output: `<think>` reasoning, `<tool_call>` blocks and content, fed
// as the engine feeds it, a piece per token, with markup split anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser, type ReplyEvent } from '../../src/providers/llama/reply-parser.js';

/** Pushes `pieces` one by one and merges neighbouring events of one kind (chunk boundaries are not meaning). */
function read(pieces: readonly string[], options = { startInReasoning: false, parseToolCalls: true }): ReplyEvent[] {
  const parser = new ReplyParser(options);
  const events = [...pieces.flatMap((piece) => parser.push(piece)), ...parser.end()];
  const merged: ReplyEvent[] = [];
  for (const event of events) {
    const last = merged.at(-1);
    if (last && last.type === event.type && event.type !== 'tool_call') (last as { text: string }).text += (event as { text: string }).text;
    else merged.push({ ...event });
  }
  return merged;
}

/** `text` cut at the given places. */
function split(text: string, cuts: readonly number[]): string[] {
  const at = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((start, index) => text.slice(start, at[index] ?? text.length)).filter((piece, index) => piece !== '' || index === 0);
}

const REPLY = '<think>rivers run; a <b> is not markup</think>The answer.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call> Done.';

test('reasoning, content and a tool call, read from the whole text', () => {
  assert.deepEqual(read([REPLY]), [
    { type: 'reasoning', text: 'rivers run; a <b> is not markup' },
    { type: 'content', text: 'The answer.' },
    { type: 'tool_call', name: 'get_weather', arguments: '{"city":"Oslo"}' },
    { type: 'content', text: ' Done.' },
  ]);
});

test('however the text is split into tokens, the same events', () => {
  const whole = read([REPLY]);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      assert.deepEqual(read(split(REPLY, cuts)), whole);
    }),
    { numRuns: 500 },
  );
});

test('a reply that starts inside the thought (the template opened it), and one whose thought never closes', () => {
  assert.deepEqual(read(['thinking', '</thi', 'nk>', 'said'], { startInReasoning: true, parseToolCalls: false }), [
    { type: 'reasoning', text: 'thinking' },
    { type: 'content', text: 'said' },
  ]);
  // A prefix of the closing tag held back at the end is given back as the reasoning it was.
  assert.deepEqual(read(['still thinking </thi'], { startInReasoning: true, parseToolCalls: false }), [{ type: 'reasoning', text: 'still thinking </thi' }]);
});

test('tool-call markup is content when tools are not read, and a broken or unfinished call is shown as its text', () => {
  const call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>';
  assert.deepEqual(read([call], { startInReasoning: false, parseToolCalls: false }), [{ type: 'content', text: call }]);
  assert.deepEqual(read(['<tool_call>not json</tool_call>']), [{ type: 'content', text: '<tool_call>not json</tool_call>' }]);
  assert.deepEqual(read(['<tool_call>{"name": "f", "argu']), [{ type: 'content', text: '<tool_call>{"name": "f", "argu' }]);
  // Arguments given as a JSON string are kept as that string; `parameters` is read as arguments.
  assert.deepEqual(read(['<tool_call>{"name": "f", "arguments": "{\\"a\\":1}"}</tool_call>']), [{ type: 'tool_call', name: 'f', arguments: '{"a":1}' }]);
  assert.deepEqual(read(['<tool_call>{"name": "f", "parameters": {"a": 1}}</tool_call>']), [{ type: 'tool_call', name: 'f', arguments: '{"a":1}' }]);
});

test('parallel calls off (maxToolCalls 1): the first call is kept, the ones after it are dropped', () => {
  const calls = '<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b", "arguments": {}}</tool_call> and text';
  assert.deepEqual(read([calls]).filter((event) => event.type === 'tool_call').map((event) => (event as { name: string }).name), ['a', 'b']);
  const parser = new ReplyParser({ startInReasoning: false, parseToolCalls: true, maxToolCalls: 1 });
  const events = [...parser.push(calls), ...parser.end()];
  assert.deepEqual(events, [{ type: 'tool_call', name: 'a', arguments: '{}' }, { type: 'content', text: ' and text' }]);
});

import assert from 'node:assert/strict';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import type { ChatRequest, ChatCallContext, ChatResult, Provider } from '../../src/providers/provider.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox-provider.js';
import { UpstreamError } from '../../src/errors/errors.js';

/** The sandbox, recording the chat messages of every call it serves (what the model "saw"). */
export class RecordingSandbox extends SandboxProvider {
  readonly calls: ChatRequest[] = [];

  constructor() {
    super({ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 0, maxOutputTokens: 200 });
  }

  override async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    this.calls.push(structuredClone(request));
    return super.chat(request, context);
  }
}

/** A backend that sends two text chunks, then fails: a failure after the stream started. */
export function failingProvider(): Provider {
  return {
    id: 'broken',
    kind: 'broken',
    acceptsUndeclaredModels: true,
    listModels: () => [{ id: 'model', created: 0, ownedBy: 'broken' }],
    async chat(request): Promise<ChatResult> {
      async function* chunks() {
        const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 0, model: 'broken/model' };
        yield { ...base, choices: [{ index: 0, delta: { role: 'assistant' as const, content: 'Half an ' }, logprobs: null, finish_reason: null }] };
        yield { ...base, choices: [{ index: 0, delta: { content: 'answer' }, logprobs: null, finish_reason: null }] };
        throw new UpstreamError('stream_interrupted', 'The upstream closed the stream mid-reply.');
      }
      void request;
      return { kind: 'stream', chunks: chunks() };
    },
  };
}

/** A backend whose chunks say which service tier served them, as OpenAI's do. */
export function tieredProvider(tier: 'default' | 'flex' | 'priority'): Provider {
  return {
    id: 'tiered',
    kind: 'tiered',
    acceptsUndeclaredModels: true,
    listModels: () => [{ id: 'model', created: 0, ownedBy: 'tiered' }],
    async chat(): Promise<ChatResult> {
      async function* chunks() {
        const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 0, model: 'tiered/model', service_tier: tier };
        yield { ...base, choices: [{ index: 0, delta: { role: 'assistant' as const, content: 'Served.' }, logprobs: null, finish_reason: null }] };
        yield { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' as const }] };
        yield { ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };
      }
      return { kind: 'stream', chunks: chunks() };
    },
  };
}

/**
 * A backend that streams two tool calls' heads first and their arguments after, interleaved, as
 * some OpenAI-compatible servers do: call 0's head, call 1's head, then argument pieces of 0, 1, 0, 1.
 */
export function interleavedCallsProvider(): Provider {
  return {
    id: 'interleaved',
    kind: 'interleaved',
    acceptsUndeclaredModels: true,
    listModels: () => [{ id: 'model', created: 0, ownedBy: 'interleaved' }],
    async chat(): Promise<ChatResult> {
      async function* chunks() {
        const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 0, model: 'interleaved/model' };
        const call = (index: number, piece: Record<string, unknown>) => ({
          ...base,
          choices: [{ index: 0, delta: { tool_calls: [{ index, ...piece }] }, logprobs: null, finish_reason: null }],
        });
        yield { ...base, choices: [{ index: 0, delta: { role: 'assistant' as const }, logprobs: null, finish_reason: null }] };
        yield call(0, { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } });
        yield call(1, { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } });
        yield call(0, { function: { arguments: '{"city":' } });
        yield call(1, { function: { arguments: '{"zone":' } });
        yield call(0, { function: { arguments: '"Paris"}' } });
        yield call(1, { function: { arguments: '"CET"}' } });
        yield { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' as const }] };
      }
      return { kind: 'stream', chunks: chunks() } as ChatResult;
    },
  };
}

/** A backend that answers nothing for `delayMs`, then fails: a failure before the first chunk. */
export function slowFailingProvider(delayMs: number): Provider {
  return {
    id: 'slow',
    kind: 'slow',
    acceptsUndeclaredModels: true,
    listModels: () => [{ id: 'model', created: 0, ownedBy: 'slow' }],
    async chat(): Promise<ChatResult> {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      throw new UpstreamError('upstream_unavailable', 'The upstream did not answer.');
    },
  };
}

type Event = ResponseStreamEvent | { type: string; sequence_number: number; [key: string]: unknown };

/**
 * Checks a Responses event stream against OpenAI's grammar: numbered 0, 1, 2…; created, then
 * in_progress; each output item opened, filled and closed before the next opens, with the events
 * its kind calls for, on its own id and index; one terminal event, last.
 */
export function assertEventGrammar(events: readonly Event[]): void {
  assert.deepEqual(
    events.map((event) => event.sequence_number),
    events.map((_, index) => index),
    'sequence numbers run 0, 1, 2… without gaps',
  );
  const types = events.map((event) => event.type);
  assert.equal(types[0], 'response.created');
  assert.equal(types[1], 'response.in_progress');
  const terminal = ['response.completed', 'response.incomplete', 'response.failed'];
  const last = types.findIndex((type) => terminal.includes(type));
  assert.ok(last !== -1, 'a terminal event');
  const after = types.slice(last + 1);
  assert.ok(after.length === 0 || (types[last] === 'response.failed' && after.length === 1 && after[0] === 'error'), `nothing after the terminal event but an error: ${after.join(', ')}`);

  let index = 2;
  let outputIndex = 0;
  const next = () => events[index] as Event & Record<string, any>;
  while (index < last) {
    const added = next();
    assert.equal(added.type, 'response.output_item.added', `item ${outputIndex} opens with output_item.added (got ${added.type} at ${index})`);
    assert.equal(added.output_index, outputIndex);
    const item = added.item as { id: string; type: string };
    index++;
    const own = (event: Record<string, any>) => {
      assert.equal(event.item_id, item.id, `${event.type} names its item`);
      assert.equal(event.output_index, outputIndex, `${event.type} names its output index`);
    };
    const expect = (type: string) => {
      const event = next();
      assert.equal(event?.type, type, `expected ${type} at ${index}, got ${event?.type}`);
      own(event);
      index++;
      return event;
    };
    // A failed response may cut its last item short: the terminal event comes where the next one would.
    const cut = () => index === last && types[last] === 'response.failed';
    if (item.type === 'message') {
      while (!cut() && next().type === 'response.content_part.added') {
        const part = expect('response.content_part.added').part as { type: string };
        const delta = part.type === 'output_text' ? 'response.output_text.delta' : 'response.refusal.delta';
        let text = '';
        while (next().type === delta) text += expect(delta).delta;
        if (cut()) break;
        const done = expect(part.type === 'output_text' ? 'response.output_text.done' : 'response.refusal.done');
        assert.equal(done.text ?? done.refusal, text, 'the done event holds the deltas joined');
        expect('response.content_part.done');
      }
    } else if (item.type === 'function_call') {
      let text = '';
      while (next().type === 'response.function_call_arguments.delta') text += expect('response.function_call_arguments.delta').delta;
      if (!cut()) assert.equal(expect('response.function_call_arguments.done').arguments, text);
    } else if (item.type === 'reasoning') {
      const summary = next().type === 'response.reasoning_summary_part.added';
      expect(summary ? 'response.reasoning_summary_part.added' : 'response.content_part.added');
      const delta = summary ? 'response.reasoning_summary_text.delta' : 'response.reasoning_text.delta';
      let text = '';
      while (next().type === delta) text += expect(delta).delta;
      if (!cut()) {
        assert.equal(expect(summary ? 'response.reasoning_summary_text.done' : 'response.reasoning_text.done').text, text);
        expect(summary ? 'response.reasoning_summary_part.done' : 'response.content_part.done');
      }
    } else {
      assert.fail(`unexpected item type ${item.type}`);
    }
    if (cut()) break;
    const done = next();
    assert.equal(done.type, 'response.output_item.done', `item ${outputIndex} closes with output_item.done (got ${done.type})`);
    assert.equal(done.output_index, outputIndex);
    assert.equal(done.item.id, item.id);
    index++;
    outputIndex++;
  }
  assert.equal(index, last, 'no stray events before the terminal one');
}

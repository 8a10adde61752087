import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createParser } from 'eventsource-parser';
import { Stream } from 'openai/streaming';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { readChunkStream } from '../../src/providers/openai-compatible/sse-chunks.js';
import { SseWriter } from '../../src/http/sse-writer.js';
import { RAW_JSON, type RelayChunk, type UnreadChunk } from '../../src/providers/provider.js';
import { SwitchyardError, UpstreamError, ValidationError } from '../../src/errors/errors.js';
import { encodeStream, fakeChunks, sseEvent } from '../helpers/fake-openai-upstream.js';
import { TurnBatch } from '../../src/util/turn-batch.js';

// ——— Reading an upstream's stream (readChunkStream) ———

const encoder = new TextEncoder();

/** A recorded reply with every kind of multibyte character a split can land inside. */
const RECORDED = fakeChunks({ contents: ['Caf', 'é ', '日本', ' 🚀', ' done'], includeUsage: true });
const RECORDED_TEXT = 'Café 日本 🚀 done';

async function* reads(parts: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

interface ReadOutcome {
  chunks: RelayChunk[];
  error: unknown;
}

async function readAll(parts: readonly Uint8Array[]): Promise<ReadOutcome> {
  const chunks: RelayChunk[] = [];
  try {
    for await (const chunk of readChunkStream(reads(parts), 'up')) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

/** Splits bytes at the given offsets (sorted, deduplicated, empty pieces kept out). */
function splitAt(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const cuts = [...new Set(offsets)].filter((at) => at > 0 && at < bytes.length).sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const at of cuts) {
    parts.push(bytes.subarray(from, at));
    from = at;
  }
  parts.push(bytes.subarray(from));
  return parts;
}

function contentOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

/** The outcome must be exactly the recorded chunks, each keeping its exact JSON text. */
function assertRecorded(outcome: ReadOutcome, context: string): void {
  assert.equal(outcome.error, undefined, `${context}: unexpected error ${String(outcome.error)}`);
  assert.equal(outcome.chunks.length, RECORDED.length, context);
  for (const [index, chunk] of outcome.chunks.entries()) {
    assert.deepEqual({ ...chunk }, RECORDED[index], `${context}: chunk ${index}`);
    assert.equal(chunk[RAW_JSON], JSON.stringify(RECORDED[index]), `${context}: raw JSON of chunk ${index}`);
  }
}

function isCode(code: string) {
  return (error: unknown) => error instanceof SwitchyardError && error.code === code;
}

describe('readChunkStream: splits at any byte', () => {
  for (const lineEnding of ['\n', '\r\n', '\r'] as const) {
    const name = JSON.stringify(lineEnding);
    test(`${name} line endings: a split at every byte offset reads the same chunks`, async () => {
      const bytes = encoder.encode(encodeStream(RECORDED, { lineEnding }));
      for (let at = 0; at <= bytes.length; at++) {
        assertRecorded(await readAll(splitAt(bytes, [at])), `split at ${at} of ${bytes.length}`);
      }
    });

    test(`${name} line endings: one byte per read`, async () => {
      const bytes = encoder.encode(encodeStream(RECORDED, { lineEnding }));
      const parts = Array.from({ length: bytes.length }, (_, index) => bytes.subarray(index, index + 1));
      assertRecorded(await readAll(parts), 'one byte per read');
    });
  }

  test('any partition into reads (property)', async () => {
    const text = encodeStream(RECORDED, { lineEnding: '\r\n' });
    const bytes = encoder.encode(text);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), async (offsets) => {
        assertRecorded(await readAll(splitAt(bytes, offsets)), `split at ${offsets.join(',')}`);
      }),
      { numRuns: 300 },
    );
  });

  test('multibyte characters split inside their bytes: é, 日本 and an emoji', async () => {
    const text = encodeStream(RECORDED);
    const bytes = encoder.encode(text);
    for (const character of ['é', '日', '本', '🚀']) {
      const size = encoder.encode(character).length;
      assert.ok(size > 1);
      const start = encoder.encode(text.slice(0, text.indexOf(character))).length;
      for (let inside = 1; inside < size; inside++) {
        const outcome = await readAll(splitAt(bytes, [start + inside]));
        assertRecorded(outcome, `${character} split after ${inside} of ${size} bytes`);
        assert.equal(contentOf(outcome.chunks), RECORDED_TEXT);
      }
      // Every byte of the character in its own read.
      const outcome = await readAll(splitAt(bytes, Array.from({ length: size }, (_, index) => start + index + 1)));
      assert.equal(contentOf(outcome.chunks), RECORDED_TEXT, `${character} one byte per read`);
    }
  });

  test('a split between the \\r and the \\n of one line ending is one line break, not two', async () => {
    const text = encodeStream(RECORDED, { lineEnding: '\r\n' });
    const bytes = encoder.encode(text);
    const offsets: number[] = [];
    for (let index = 0; index < bytes.length - 1; index++) if (bytes[index] === 13 && bytes[index + 1] === 10) offsets.push(index + 1);
    assertRecorded(await readAll(splitAt(bytes, offsets)), 'every \\r\\n split');
  });
});

describe('readChunkStream: what the stream holds besides chunks', () => {
  test('comments, blank keep-alive lines and id/retry fields are ignored', async () => {
    const events = RECORDED.map((chunk) => sseEvent(JSON.stringify(chunk)));
    const text =
      ': keep-alive\n\n' +
      '\n\n\n' +
      ': OPENROUTER PROCESSING\n\n' +
      events.slice(0, 3).join('') +
      ':\n\n' +
      'retry: 3000\n\n' +
      `id: 7\n${events[3]}` +
      ': keep-alive\r\n\r\n' +
      events.slice(4).join('') +
      '\n' +
      sseEvent('[DONE]');
    assertRecorded(await readAll([encoder.encode(text)]), 'with comments');
  });

  test('`data:` without a space after the colon is read the same', async () => {
    const text = RECORDED.map((chunk) => `data:${JSON.stringify(chunk)}\n\n`).join('') + 'data:[DONE]\n\n';
    assertRecorded(await readAll([encoder.encode(text)]), 'no space');
  });

  test('[DONE] ends the stream: events after it are not read, and the body is still drained', async () => {
    let drained = false;
    async function* body(): AsyncGenerator<Uint8Array> {
      yield encoder.encode(encodeStream(RECORDED));
      yield encoder.encode(sseEvent(JSON.stringify(fakeChunks({ contents: ['late'] })[1])));
      yield encoder.encode('data: {not json}\n\n');
      drained = true;
    }
    const chunks: RelayChunk[] = [];
    for await (const chunk of readChunkStream(body(), 'up')) chunks.push(chunk);
    assertRecorded({ chunks, error: undefined }, 'after [DONE]');
    assert.ok(drained, 'the body is read to its end so the keep-alive socket can be reused');
  });

  test('a stream that ends after its finish_reason without [DONE] is complete', async () => {
    const outcome = await readAll([encoder.encode(encodeStream(RECORDED, { done: false }))]);
    assertRecorded(outcome, 'no [DONE]');
    // Without the usage chunk as well: the finish chunk alone completes it.
    const withoutUsage = fakeChunks({ contents: ['a', 'b'] });
    const short = await readAll([encoder.encode(encodeStream(withoutUsage, { done: false }))]);
    assert.equal(short.error, undefined);
    assert.equal(short.chunks.length, withoutUsage.length);
  });

  test('a stream cut with neither [DONE] nor a finish_reason throws stream_interrupted, after the chunks it had', async () => {
    const cut = RECORDED.slice(0, 3);
    const outcome = await readAll([encoder.encode(encodeStream(cut, { done: false }))]);
    assert.equal(outcome.chunks.length, 3);
    assert.ok(isCode('stream_interrupted')(outcome.error), String(outcome.error));
    assert.ok(outcome.error instanceof UpstreamError);
    assert.equal((outcome.error as SwitchyardError).status, 502);
  });

  test('an empty body throws stream_interrupted', async () => {
    const outcome = await readAll([]);
    assert.deepEqual(outcome.chunks, []);
    assert.ok(isCode('stream_interrupted')(outcome.error), String(outcome.error));
  });

  test('a half-written last event (no blank line) does not count as a finish', async () => {
    const text = encodeStream(RECORDED.slice(0, 2), { done: false }) + `data: ${JSON.stringify(RECORDED[RECORDED.length - 2])}`;
    const outcome = await readAll([encoder.encode(text)]);
    assert.equal(outcome.chunks.length, 2);
    assert.ok(isCode('stream_interrupted')(outcome.error), String(outcome.error));
  });

  test('malformed JSON throws upstream_error; chunks before it were delivered, none after', async () => {
    const text = encodeStream(RECORDED.slice(0, 2), { done: false }) + 'data: {"id": "chatcmpl-x", "choices": [\n\n' + encodeStream(RECORDED.slice(2));
    const outcome = await readAll([encoder.encode(text)]);
    assert.equal(outcome.chunks.length, 2);
    assert.ok(isCode('upstream_error')(outcome.error), String(outcome.error));
    assert.match((outcome.error as Error).message, /malformed/);
  });

  test('an error object inside the 200 stream throws, naming the upstream message', async () => {
    const error = { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } };
    const text = encodeStream(RECORDED.slice(0, 2), { done: false }) + sseEvent(JSON.stringify(error)) + encodeStream(RECORDED.slice(2));
    const outcome = await readAll([encoder.encode(text)]);
    assert.equal(outcome.chunks.length, 2);
    assert.ok(isCode('upstream_error')(outcome.error), String(outcome.error));
    assert.match((outcome.error as Error).message, /processing your request/);
  });

  test('an `event: error` event throws', async () => {
    const text = encodeStream(RECORDED.slice(0, 2), { done: false }) + `event: error\ndata: {"message":"overloaded"}\n\n`;
    const outcome = await readAll([encoder.encode(text)]);
    assert.equal(outcome.chunks.length, 2);
    assert.ok(isCode('upstream_error')(outcome.error), String(outcome.error));
  });

  test('a multi-line data event (legal SSE) is read as one chunk', async () => {
    const chunk = RECORDED[1]!;
    const pretty = JSON.stringify(chunk, null, 1).split('\n');
    const text = pretty.map((line) => `data: ${line}\n`).join('') + '\n' + encodeStream(RECORDED.slice(2));
    const outcome = await readAll([encoder.encode(text)]);
    assert.equal(outcome.error, undefined);
    assert.deepEqual({ ...outcome.chunks[0] }, chunk);
  });
});

// ——— Writing the client's stream (SseWriter) ———

interface Captured {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Runs `script` against a real response and returns the exact bytes the client received. */
async function captureWriter(script: (sse: SseWriter, response: ServerResponse) => void | Promise<void>): Promise<Captured> {
  const server = createServer((_request, response) => {
    void (async () => {
      try {
        await script(new SseWriter(response), response);
      } finally {
        if (!response.writableEnded) response.end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<Captured>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(parts).toString('utf8') }));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The events a spec-following SSE reader sees in `text`: data and comments. */
function parseEvents(text: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data), onComment: (comment) => comments.push(comment) });
  parser.feed(text);
  return { data, comments };
}

// ——— Relaying without reading (readChunkStream with `unread`) ———

async function readUnread(parts: readonly Uint8Array[], stripUsageNull = false): Promise<{ chunks: Array<RelayChunk | UnreadChunk>; error: unknown }> {
  const chunks: Array<RelayChunk | UnreadChunk> = [];
  try {
    for await (const chunk of readChunkStream(reads(parts), 'up', { unread: true, stripUsageNull })) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

const wasRead = (chunk: RelayChunk | UnreadChunk): chunk is RelayChunk => chunk.choices !== undefined;

describe('readChunkStream with unread events', () => {
  test('ordinary events pass unread with their exact text; the first, the finish and the usage events are read', async () => {
    const outcome = await readUnread([encoder.encode(encodeStream(RECORDED))]);
    assert.equal(outcome.error, undefined);
    assert.deepEqual(
      outcome.chunks.map((chunk) => chunk[RAW_JSON]),
      RECORDED.map((chunk) => JSON.stringify(chunk)),
    );
    // RECORDED: the role chunk, five contents, the finish, the usage chunk.
    assert.deepEqual(outcome.chunks.map(wasRead), [true, false, false, false, false, false, true, true]);
    const usage = outcome.chunks.at(-1) as RelayChunk;
    assert.deepEqual(usage.usage, RECORDED.at(-1)!.usage);
    // What the reading mode gives for the same bytes, text for text.
    const read = await readAll([encoder.encode(encodeStream(RECORDED))]);
    assert.deepEqual(read.chunks.map((chunk) => chunk[RAW_JSON]), outcome.chunks.map((chunk) => chunk[RAW_JSON]));
  });

  test('`"usage":null` is cut from unread events exactly as from read ones when the client did not ask for usage', async () => {
    const bytes = encoder.encode(encodeStream(RECORDED));
    const unread = await readUnread([bytes], true);
    const read: RelayChunk[] = [];
    for await (const chunk of readChunkStream(reads([bytes]), 'up', { stripUsageNull: true })) read.push(chunk);
    assert.deepEqual(unread.chunks.map((chunk) => chunk[RAW_JSON]), read.map((chunk) => chunk[RAW_JSON]));
    assert.ok(unread.chunks.slice(1, -2).every((chunk) => !wasRead(chunk) && !chunk[RAW_JSON].includes('"usage"')));
  });

  test('any text inside a message (quotes, key names, braces) relays as it came, and nothing that matters is left unread', async () => {
    const tricky = fc.oneof(
      fc.string(),
      fc.constantFrom('"usage":{"prompt_tokens":1}', '"error":{"message":"x"}', '"finish_reason":"stop"', '}\n{', '\\"', '{"usage":null}'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(tricky, { minLength: 1, maxLength: 6 }), fc.boolean(), async (contents, includeUsage) => {
        const chunks = fakeChunks({ contents, includeUsage });
        const outcome = await readUnread([encoder.encode(encodeStream(chunks))]);
        assert.equal(outcome.error, undefined);
        assert.deepEqual(outcome.chunks.map((chunk) => chunk[RAW_JSON]), chunks.map((chunk) => JSON.stringify(chunk)));
        for (const [index, chunk] of outcome.chunks.entries()) {
          const original = chunks[index]!;
          const matters = original.usage != null || original.choices.some((choice) => choice.finish_reason !== null);
          if (matters) assert.ok(wasRead(chunk), `chunk ${index} carries usage or a finish and was read`);
          if (!wasRead(chunk)) assert.equal(chunk.usage ?? null, null);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('events laid out otherwise, an error inside the stream and malformed text are read, and fail as before', async () => {
    const [role, content, finish] = fakeChunks({ contents: ['x'] });
    const spaced = JSON.stringify(content, null, 1).replace(/\n/g, '');
    const spacedFinish = JSON.stringify(finish, null, 1).replace(/\n/g, '');
    const layout = await readUnread([encoder.encode(sseEvent(JSON.stringify(role)) + sseEvent(spaced) + sseEvent(spacedFinish))]);
    // A layout other than the compact one is read (`"finish_reason": null` is not known to be unset
    // without reading); no [DONE], but the finish was seen: complete.
    assert.equal(layout.error, undefined);
    assert.deepEqual(layout.chunks.map(wasRead), [true, true, true]);

    const error = { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } };
    const failed = await readUnread([encoder.encode(encodeStream(RECORDED.slice(0, 3), { done: false }) + sseEvent(JSON.stringify(error)))]);
    assert.equal(failed.chunks.length, 3);
    assert.ok(isCode('upstream_error')(failed.error), String(failed.error));

    const malformed = await readUnread([encoder.encode(encodeStream(RECORDED.slice(0, 2), { done: false }) + 'data: {"id": "chatcmpl-x", "choices": [\n\n')]);
    assert.equal(malformed.chunks.length, 2);
    assert.match(String(malformed.error), /malformed/);

    const named = await readUnread([encoder.encode(encodeStream(RECORDED.slice(0, 2), { done: false }) + `event: error\ndata: ${JSON.stringify(RECORDED[2])}\n\n`)]);
    assert.ok(isCode('upstream_error')(named.error), 'an `event: error` event is read and thrown');

    const cut = await readUnread([encoder.encode(encodeStream(RECORDED.slice(0, 4), { done: false }))]);
    assert.ok(isCode('stream_interrupted')(cut.error), 'cut before its finish: interrupted');
  });
});

describe('SseWriter output', () => {
  test("a stream whose end waits on a turn's batch (its usage record) leaves, chunks and [DONE], in the one final write", async () => {
    const chunks = fakeChunks({ contents: ['a', 'b', 'c'] });
    const calls: string[] = [];
    const captured = await captureWriter(async (sse, response) => {
      const write = response.write.bind(response) as (...args: unknown[]) => boolean;
      const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
      response.write = ((...args: unknown[]) => (calls.push('write'), write(...args))) as typeof response.write;
      response.end = ((...args: unknown[]) => (calls.push(args[0] === undefined ? 'end' : 'end(text)'), end(...args))) as typeof response.end;
      sse.start({});
      for (const chunk of chunks) void sse.chunk(chunk);
      // What the gateway does before [DONE]: wait for the usage journal's batched write of this turn.
      await new TurnBatch<string>(() => {}).add('record');
      sse.done();
    });
    assert.deepEqual(calls, ['end(text)'], 'the turn\'s chunks were held for the end, not flushed on their own before it');
    assert.equal(captured.text, chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('') + 'data: [DONE]\n\n');
  });

  test('headers and `data: <json>\\n\\n` framing, ending with [DONE]', async () => {
    const [first, second] = fakeChunks({ contents: ['line one\nline two "quoted" é 🚀'] });
    const captured = await captureWriter((sse) => {
      sse.start({ 'x-request-id': 'req_test' });
      void sse.chunk(first!);
      void sse.chunk(second!);
      sse.done();
    });
    assert.equal(captured.status, 200);
    assert.equal(captured.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(captured.headers['cache-control'], 'no-cache');
    assert.equal(captured.headers['x-accel-buffering'], 'no');
    assert.equal(captured.headers['x-request-id'], 'req_test');
    assert.equal(captured.text, `data: ${JSON.stringify(first)}\n\ndata: ${JSON.stringify(second)}\n\ndata: [DONE]\n\n`);
    // The newline inside the content stays escaped: one event, one data line.
    assert.deepEqual(parseEvents(captured.text).data.map((data) => (data === '[DONE]' ? data : JSON.parse(data))), [first, second, '[DONE]']);
  });

  test("a chunk's raw JSON is written byte for byte", async () => {
    const raw = '{"id":"chatcmpl-1",  "object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}], "x_vendor":{"kept":true}}';
    const chunk = JSON.parse(raw) as RelayChunk;
    Object.defineProperty(chunk, RAW_JSON, { value: raw });
    const captured = await captureWriter((sse) => {
      sse.start({});
      void sse.chunk(chunk);
      sse.done();
    });
    assert.equal(captured.text, `data: ${raw}\n\ndata: [DONE]\n\n`);
  });

  test('heartbeats are `: keep-alive\\n\\n` comments that readers ignore', async () => {
    const [first] = fakeChunks();
    const captured = await captureWriter(async (sse) => {
      sse.start({});
      await sse.heartbeat();
      await sse.heartbeat();
      void sse.chunk(first!);
      await sse.comment('multi\nline\r\ncomment');
      sse.done();
    });
    assert.equal(captured.text, `: keep-alive\n\n: keep-alive\n\ndata: ${JSON.stringify(first)}\n\n: multi line comment\n\ndata: [DONE]\n\n`);
    const events = parseEvents(captured.text);
    assert.deepEqual(events.data, [JSON.stringify(first), '[DONE]']);
    assert.deepEqual(events.comments.map((comment) => comment.trim()), ['keep-alive', 'keep-alive', 'multi line comment']);
  });

  test('an error ends the stream with `data: {"error":{message,type,param,code}}` and no [DONE]', async () => {
    const [first] = fakeChunks();
    const captured = await captureWriter((sse) => {
      sse.start({});
      void sse.chunk(first!);
      sse.fail(new UpstreamError('stream_interrupted', "The upstream provider 'up' closed the stream before it finished."));
      // Nothing may follow the error event.
      void sse.chunk(first!);
      sse.done();
    });
    const errorLine = '{"error":{"message":"The upstream provider \'up\' closed the stream before it finished.","type":"server_error","param":null,"code":"stream_interrupted"}}';
    assert.equal(captured.text, `data: ${JSON.stringify(first)}\n\ndata: ${errorLine}\n\n`);
    assert.deepEqual(Object.keys(JSON.parse(parseEvents(captured.text).data[1]!).error), ['message', 'type', 'param', 'code']);
  });

  test('an error with a param keeps it; the SDK raises an APIError carrying its fields', async () => {
    const captured = await captureWriter((sse) => {
      sse.start({});
      sse.fail(new ValidationError('max_tokens is too large: 99.', 'max_tokens'));
    });
    assert.deepEqual(JSON.parse(parseEvents(captured.text).data[0]!), {
      error: { message: 'max_tokens is too large: 99.', type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value' },
    });
    const stream = Stream.fromSSEResponse<ChatCompletionChunk>(new Response(captured.text), new AbortController());
    await assert.rejects(
      async () => {
        for await (const _chunk of stream) void _chunk;
      },
      (error: unknown) => error instanceof APIError && error.code === 'invalid_value' && error.param === 'max_tokens' && error.type === 'invalid_request_error',
    );
  });

  test('after done, nothing more is written', async () => {
    const [first] = fakeChunks();
    const captured = await captureWriter(async (sse) => {
      sse.start({});
      sse.done();
      void sse.chunk(first!);
      await sse.heartbeat();
      sse.fail(new UpstreamError('upstream_error', 'late'));
    });
    assert.equal(captured.text, 'data: [DONE]\n\n');
  });

  test("a turn's chunks reach the socket in one write, and a chunk is not held past its turn", async () => {
    const chunks = fakeChunks({ contents: ['a', 'b', 'c'] });
    let writes = 0;
    let arrived: () => void = () => {};
    const arrivedBeforeDone = new Promise<boolean>((resolve) => {
      arrived = () => resolve(true);
      setTimeout(() => resolve(false), 5_000);
    });
    const server = createServer((_request, response) => {
      const write = response.write.bind(response) as (...args: unknown[]) => boolean;
      response.write = ((...args: unknown[]) => {
        writes += 1;
        return write(...args);
      }) as typeof response.write;
      const sse = new SseWriter(response);
      sse.start({});
      for (const chunk of chunks) void sse.chunk(chunk);
      // The stream ends only once the client has this turn's chunks: nothing waits for more.
      void arrivedBeforeDone.then(() => sse.done());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const expected = chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('');
      const text = await new Promise<string>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (response) => {
          let body = '';
          response.on('data', (part: Buffer) => {
            body += part.toString('utf8');
            if (body === expected) arrived();
          });
          response.on('end', () => resolve(body));
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end();
      });
      assert.equal(await arrivedBeforeDone, true, 'the chunks reached the client before the stream ended');
      assert.equal(writes, 1, "the three chunks of one turn are one write");
      assert.equal(text, `${expected}data: [DONE]\n\n`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a client that stops reading makes the writer wait instead of buffering without bound', async () => {
    const big = fakeChunks({ contents: ['x'.repeat(32 * 1024)] })[1]!;
    const server = createServer((_request, response) => {
      void (async () => {
        const sse = new SseWriter(response);
        sse.start({});
        let waits = 0;
        for (let index = 0; index < 200; index++) {
          const backpressure = sse.chunk(big);
          if (backpressure) {
            waits += 1;
            // Held while the client does not read: at most what the socket's buffers hold, never all 6 MB.
            assert.ok(response.writableLength < 1024 * 1024, `buffered ${response.writableLength} bytes`);
            await backpressure;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
        sse.done();
        server.emit('waits', waits);
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const waits = new Promise<number>((resolve) => server.once('waits', resolve));
      const { port } = server.address() as AddressInfo;
      const text = await new Promise<string>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (response) => {
          // Not reading for a while lets the server's buffers fill.
          response.pause();
          setTimeout(() => response.resume(), 300);
          const parts: Buffer[] = [];
          response.on('data', (part: Buffer) => parts.push(part));
          response.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end();
      });
      assert.ok((await waits) > 0, 'the writer waited for the socket to drain');
      assert.equal(parseEvents(text).data.length, 201, 'every chunk arrived, then [DONE]');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a chunk read from a multi-line data event is written back as one valid event', async () => {
    const chunk = RECORDED[1]!;
    const multiLine = JSON.stringify(chunk, null, 1)
      .split('\n')
      .map((line) => `data: ${line}\n`)
      .join('');
    const read: RelayChunk[] = [];
    for await (const relayed of readChunkStream(reads([encoder.encode(`${multiLine}\n${encodeStream(RECORDED.slice(2))}`)]), 'up')) read.push(relayed);
    const captured = await captureWriter((sse) => {
      sse.start({});
      void sse.chunk(read[0]!);
      sse.done();
    });
    const data = parseEvents(captured.text).data;
    assert.deepEqual(JSON.parse(data[0]!), chunk);
  });
});

// A fake OpenAI upstream that costs as little as possible per request, so that what the benchmark
// measures is the hop in front of it, not the upstream. Every response body is built once at start.
//
//   node bin/run-ts.mjs bench/fake-upstream.ts --port 9000
import http from 'node:http';
import { announceListening, portFlag } from './lib/args.js';

const ID = 'chatcmpl-bench0000000000000000000000';
const CREATED = 1_700_000_000;
const MODEL = 'fake-model';
/** Content deltas: 18 of them, so that with the role chunk and the finish chunk a stream has 20 events. */
const DELTAS = ['Hello', '!', ' I', "'m", ' doing', ' well', ',', ' thank', ' you', ' for', ' asking', '.', ' How', ' can', ' I', ' help', ' you', '?'];
const USAGE = { prompt_tokens: 14, completion_tokens: DELTAS.length, total_tokens: 14 + DELTAS.length };

const completionBody = Buffer.from(
  JSON.stringify({
    id: ID,
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: DELTAS.join(''), refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: USAGE,
    system_fingerprint: 'fp_bench',
  }),
);
const completionHeaders = {
  'content-type': 'application/json',
  'content-length': String(completionBody.length),
};

function sseEvent(data: unknown): Buffer {
  return Buffer.from(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

function chunk(delta: Record<string, unknown>, finishReason: string | null): Buffer {
  return sseEvent({
    id: ID,
    object: 'chat.completion.chunk',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
}

const streamEvents: Buffer[] = [
  chunk({ role: 'assistant', content: '', refusal: null }, null),
  ...DELTAS.map((content) => chunk({ content }, null)),
  chunk({}, 'stop'),
];
const usageEvent = sseEvent({ id: ID, object: 'chat.completion.chunk', created: CREATED, model: MODEL, system_fingerprint: 'fp_bench', choices: [], usage: USAGE });
const doneEvent = sseEvent('[DONE]');
const streamWithoutUsage = [...streamEvents, doneEvent];
const streamWithUsage = [...streamEvents, usageEvent, doneEvent];
const streamHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

const modelsBody = Buffer.from(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model', created: CREATED, owned_by: 'bench' }] }));
const notFoundBody = Buffer.from(JSON.stringify({ error: { message: 'Not found', type: 'invalid_request_error', code: 'not_found' } }));

// Pattern tests on the raw text instead of JSON.parse: the upstream must see `stream`, nothing more,
// and parsing every body would put the upstream's cost into every figure.
const STREAM_TRUE = /"stream"\s*:\s*true/;
const INCLUDE_USAGE = /"include_usage"\s*:\s*true/;

function answerChat(body: string, res: http.ServerResponse): void {
  if (!STREAM_TRUE.test(body)) {
    res.writeHead(200, completionHeaders);
    res.end(completionBody);
    return;
  }
  res.writeHead(200, streamHeaders);
  // One write per event, as a real upstream flushes each token as it comes: the hop in front then
  // sees (and forwards) a stream of small chunks rather than one block.
  for (const event of INCLUDE_USAGE.test(body) ? streamWithUsage : streamWithoutUsage) res.write(event);
  res.end();
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/v1/chat/completions') {
    // Read the whole body, as a real server does, before answering.
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => answerChat((parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('latin1'), res));
    return;
  }
  req.resume();
  if (req.method === 'GET' && req.url === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(modelsBody.length) });
    res.end(modelsBody);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(notFoundBody.length) });
  res.end(notFoundBody);
});
// Load generators keep connections open between requests; never drop them for idleness mid-run.
server.keepAliveTimeout = 60_000;

server.listen(portFlag(process.argv.slice(2)), '127.0.0.1', () => {
  const address = server.address();
  announceListening('fake upstream', typeof address === 'object' && address ? address.port : 0);
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox-provider.js';
import type { ChatRequest, Provider } from '../../src/providers/provider.js';
import type { ConfigInput } from '../../src/config/schema.js';

const KEY = 'sk-log-secret-0123456789abcdef';
const PROMPT = 'my-secret-prompt-text-7c1f';

/** A backend that fails with an error whose cause carries the request (as a careless SDK might). */
class LeakyProvider extends SandboxProvider {
  constructor() {
    super({ id: 'leaky', kind: 'sandbox', chunkDelayMs: 0, maxOutputTokens: 64 });
  }
  override async chat(request: ChatRequest): ReturnType<SandboxProvider['chat']> {
    throw new Error('backend exploded', { cause: { body: { messages: request.messages }, headers: { authorization: `Bearer ${KEY}` }, apiKey: KEY } });
  }
}

async function withLoggedServer(config: ConfigInput, run: (server: RunningServer, lines: () => Array<Record<string, unknown>>, raw: () => string) => Promise<void>) {
  const chunks: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const server = await startServer(
    { ...config, auth: { keys: [KEY] }, server: { logLevel: 'info' } },
    { logStream, providers: [new SandboxProvider({ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 0, maxOutputTokens: 256 }), new LeakyProvider() as Provider] },
  );
  const raw = () => chunks.join('');
  const lines = () => raw().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  try {
    await run(server, lines, raw);
  } finally {
    await server.close();
  }
}

async function chat(server: RunningServer, model: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'api-key': KEY },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }], ...extra }),
  });
}

describe('structured logs', () => {
  it('are JSON lines carrying the request id, with secrets and prompts redacted', async () => {
    await withLoggedServer({ logging: { calls: true } }, async (server, lines, raw) => {
      const ok = await chat(server, 'sandbox/echo');
      assert.equal(ok.status, 200);
      await ok.text();
      const failed = await chat(server, 'leaky/echo');
      assert.equal(failed.status, 500);
      const failedId = failed.headers.get('x-request-id');
      const streamed = await chat(server, 'leaky/echo', { stream: true });
      await streamed.text();
      // Anything else a developer might log through the request's logger is redacted too.
      server.app.log.info({ reqId: 'req_manual', body: { messages: [{ role: 'user', content: PROMPT }] }, headers: { authorization: `Bearer ${KEY}` } }, 'manual');

      const all = lines();
      const text = raw();
      console.log(`# ${all.length} log lines captured`);
      assert.ok(all.length >= 4, text);
      assert.ok(!text.includes(KEY), 'the API key reached the log');
      assert.ok(!text.includes(PROMPT), 'the prompt reached the log');
      assert.match(text, /\[Redacted\]/);
      // Every line about a request names it (only the server's own start line is about none);
      // the failure's line names the right one.
      for (const line of all.filter((entry) => !String(entry.msg).startsWith('Server listening'))) assert.equal(typeof line.reqId, 'string', `a log line without a request id: ${JSON.stringify(line)}`);
      const failure = all.find((line) => line.msg === 'request failed');
      assert.ok(failure, text);
      assert.equal(failure.reqId, failedId);
      const calls = all.filter((line) => line.msg === 'model call ended' || line.msg === 'model call failed');
      assert.equal(calls.length, 3);
      assert.ok(calls.some((line) => line.model === 'sandbox/echo' && line.status === 'completed' && typeof line.promptTokens === 'number'));
      for (const line of all) assert.equal(typeof line.level, 'number');
    });
  });

  it('let prompts through when logging.prompts is on, never the secrets', async () => {
    await withLoggedServer({ logging: { prompts: true } }, async (server, _lines, raw) => {
      const failed = await chat(server, 'leaky/echo');
      assert.equal(failed.status, 500);
      server.app.log.info({ reqId: 'req_manual', body: { messages: [{ role: 'user', content: PROMPT }] }, headers: { authorization: `Bearer ${KEY}` } }, 'manual');
      const text = raw();
      assert.ok(text.includes(PROMPT), text);
      assert.ok(!text.includes(KEY), 'the API key reached the log');
    });
  });
});

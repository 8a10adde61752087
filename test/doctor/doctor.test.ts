// `switchyard doctor` against real servers on loopback, and the capability memory that lets the
// router refuse early what an upstream has shown it cannot do.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { APIError } from 'openai';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { completionReply, openAIError, startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { doctor, renderTable } from '../../src/cli/doctor/doctor-command.js';

const run = promisify(execFile);
const KEY = 'sk-doctor-test-key-0123456789';

describe('switchyard doctor against Switchyard itself', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ auth: { keys: [KEY] } });
  });
  after(() => server.close());

  test('every probe passes on the sandbox, the bad key included', async () => {
    const { model, results } = await doctor({ baseURL: server.baseURL, key: KEY, model: 'sandbox/echo' });
    console.log(renderTable(results));
    assert.equal(model, 'sandbox/echo');
    assert.deepEqual(
      results.filter((result) => result.status !== 'pass').map((result) => `${result.name}: ${result.detail}`),
      [],
    );
    assert.equal(results.length, 13);
    assert.match(results.find((result) => result.name === 'error shapes')!.detail, /bad key: 401/);
  });

  test('the CLI prints JSON and exits 0; an unreachable endpoint exits 1', async () => {
    const cli = path.resolve('bin/switchyard.mjs');
    const { stdout } = await run(process.execPath, [cli, 'doctor', server.baseURL, '--key', KEY, '--model', 'sandbox/lorem', '--json']);
    const report = JSON.parse(stdout) as { model: string; results: Array<{ name: string; status: string }> };
    assert.equal(report.model, 'sandbox/lorem');
    assert.ok(report.results.every((result) => result.status === 'pass'), stdout);
    await assert.rejects(run(process.execPath, [cli, 'doctor', 'http://127.0.0.1:1/v1', '--model', 'x']), (error: { code: number; stdout: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stdout, /✗ {2}chat/);
      return true;
    });
  });
});

describe('an upstream that lacks tools', () => {
  let upstream: FakeUpstream;
  let server: RunningServer;
  const noTools = completionReply();
  before(async () => {
    upstream = await startFakeUpstream();
    server = await startServer({
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        { id: 'weak', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['m'] },
        { id: 'told', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['m'], unsupported: ['tools'] },
      ],
      aliases: { 'weak-then-sandbox': { targets: ['weak/m', 'sandbox/echo'] } },
    });
  });
  after(async () => {
    await server.close();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.reset();
    upstream.script((exchange) => {
      if (exchange.request.body?.tools) {
        exchange.response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(openAIError('tools is not supported for this model.', 'invalid_request_error', 'tools', null)));
        return;
      }
      return noTools(exchange);
    });
  });

  const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object', properties: {} } } }];

  test('the first refusal is learned: the second request is refused before the network', async () => {
    const ask = () => server.client().chat.completions.create({ model: 'weak/m', messages: [{ role: 'user', content: 'x' }], tools });
    for (const attempt of [1, 2]) {
      await assert.rejects(ask(), (error: APIError) => {
        assert.equal(error.status, 400);
        assert.equal(error.code, 'unsupported_parameter');
        assert.equal(error.param, 'tools');
        assert.match(error.message, attempt === 1 ? /does not support tools for the model 'm': tools is not supported/ : /it refused it earlier/);
        return true;
      });
    }
    assert.equal(upstream.chatRequests.length, 1, 'the upstream was asked once');
    // Requests without tools still go through.
    await server.client().chat.completions.create({ model: 'weak/m', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(upstream.chatRequests.length, 2);
  });

  test('a plain bad request teaches nothing', async () => {
    upstream.script((exchange) => {
      exchange.response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(openAIError("Invalid value for 'tools[0].function.name'.", 'invalid_request_error', 'tools[0].function.name', 'invalid_value')));
    });
    for (let i = 0; i < 2; i++) {
      // Another model of the same upstream: what was learned of `m` does not apply to it.
      await assert.rejects(server.client().chat.completions.create({ model: 'weak/other', messages: [{ role: 'user', content: 'x' }], tools }), (error: APIError) => error.code === 'invalid_value');
    }
    assert.equal(upstream.chatRequests.length, 2, 'asked both times');
  });

  test('configured gaps are refused from the first request; an alias falls back to a target that can', async () => {
    await assert.rejects(server.client().chat.completions.create({ model: 'told/m', messages: [{ role: 'user', content: 'x' }], tools }), (error: APIError) => {
      assert.match(error.message, /per its configuration/);
      return true;
    });
    assert.equal(upstream.chatRequests.length, 0);
    const { data, response } = await server.client().chat.completions.create({ model: 'weak-then-sandbox', messages: [{ role: 'user', content: 'call f' }], tools }).withResponse();
    assert.match(response.headers.get('x-switchyard-route')!, /sandbox\/echo \(after 1 fallback\)/);
    assert.equal(data.choices[0]!.message.tool_calls?.[0]?.type, 'function');
  });

  test('the doctor names the gap', async () => {
    const { results } = await doctor({ baseURL: server.baseURL, model: 'told/m' });
    const toolProbe = results.find((result) => result.name === 'tool calls')!;
    assert.equal(toolProbe.status, 'fail');
    assert.match(toolProbe.detail, /400: .*does not support tools/);
    assert.equal(results.find((result) => result.name === 'chat')!.status, 'pass');
  });
});

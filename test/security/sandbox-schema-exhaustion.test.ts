// Small requests that would hold the sandbox's event loop for minutes: schemas whose instances are
// cheap to ask for and dear to make. A spawned server, so that a held loop fails the test (a
// request that times out) rather than freezing the test process with it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';
import { patternWork } from '../../src/providers/sandbox/schema-budget.js';

let dir: string;
let server: SpawnedServer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-schema-'));
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, [`store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }`, 'server: { logLevel: warn }', 'providers:', '  - { id: sandbox, kind: sandbox }', ''].join('\n'));
  server = await spawnServer(configFile, { SWITCHYARD_NO_DEFAULT_MODEL: '1', SWITCHYARD_CONFIG: '', SWITCHYARD_API_KEYS: '', DATABASE_URL: '', REDIS_URL: '' });
});

after(async () => {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  await server?.exited;
  await rm(dir, { recursive: true, force: true });
});

/** A chat call that must be answered within `ms`; a held event loop shows as a timeout. */
async function chat(body: Record<string, unknown>, ms = 5_000): Promise<{ status: number; body: { error?: { param: string | null; message: string } } }> {
  const response = await fetch(`${server.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'x' }], ...body }),
    signal: AbortSignal.timeout(ms),
  });
  return { status: response.status, body: (await response.json()) as { error?: { param: string | null; message: string } } };
}

const jsonSchema = (schema: unknown) => ({ type: 'json_schema', json_schema: { name: 's', schema } });

describe('sandbox schemas that cost more to make than to send', () => {
  test('nested repetitions in a pattern are priced by what they multiply to: a 400, not minutes of generation', async () => {
    // Ten nested `+`: up to 5^10 characters per try, 51 tries under a maxLength it cannot meet.
    const pattern = `^${'('.repeat(10)}a${')+'.repeat(10)}$`;
    const started = performance.now();
    const reply = await chat({ response_format: jsonSchema({ type: 'object', properties: { x: { type: 'string', pattern, maxLength: 1 } }, required: ['x'] }) });
    assert.equal(reply.status, 400);
    assert.equal(reply.body.error?.param, 'response_format.json_schema.schema');
    assert.ok(performance.now() - started < 2_000);
    // Nested counted repetitions too: (((a{40}){40}){40}){40} spells 2.5 million characters.
    const counted = await chat({ response_format: jsonSchema({ type: 'string', pattern: '(((a{40}){40}){40}){40}' }) });
    assert.equal(counted.status, 400);
  });

  test('character ranges are priced by their width (each is spelled out whenever the pattern is read)', async () => {
    const pattern = '[\u0000-\uffff]'.repeat(2_000);
    const reply = await chat({ response_format: jsonSchema({ type: 'string', pattern, minLength: 1 }) });
    assert.equal(reply.status, 400);
  });

  test('patternProperties are refused: json-schema-faker tests each property name against them as a backtracking RegExp', async () => {
    const name = `${'a'.repeat(40)}!`;
    const schema = { type: 'object', properties: { [name]: { type: 'string' } }, required: [name], patternProperties: { '^(a+)+$': { type: 'string' } } };
    const reply = await chat({ response_format: jsonSchema(schema) });
    assert.equal(reply.status, 400);
    assert.match(reply.body.error!.message, /patternProperties/);
    const asTool = await chat({ tools: [{ type: 'function', function: { name: 'f', parameters: schema } }], tool_choice: 'required' });
    assert.equal(asTool.status, 400);
    assert.equal(asTool.body.error?.param, 'tools[0].function.parameters');
  });

  test('the budget holds for the whole request: n choices of a schema cost n instances', async () => {
    // Within the budget once (about 70 ms of generation), far beyond it 128 times.
    const rows = { type: 'array', minItems: 14_000, items: { type: 'integer' } };
    const started = performance.now();
    const reply = await chat({ n: 128, response_format: jsonSchema(rows) });
    assert.equal(reply.status, 400);
    assert.match(reply.body.error!.message, /fewer choices/);
    const tools = Array.from({ length: 128 }, (_, index) => ({ type: 'function', function: { name: `t${index}`, parameters: { type: 'object', properties: { rows }, required: ['rows'] } } }));
    const mentioned = Array.from({ length: 128 }, (_, index) => `t${index}`).join(' ');
    const manyTools = await chat({ messages: [{ role: 'user', content: mentioned }], tools });
    assert.equal(manyTools.status, 400);
    assert.ok(performance.now() - started < 3_000, `took ${(performance.now() - started).toFixed(0)} ms`);
    // Several small instances are still made.
    const small = await chat({ n: 4, response_format: jsonSchema({ type: 'array', minItems: 3, items: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' } }) });
    assert.equal(small.status, 200);
  });

  test('pricing a schema is itself bounded: $refs that fan out back to themselves are refused at once', async () => {
    const properties = Object.fromEntries(Array.from({ length: 300 }, (_, index) => [`p${index}`, { $ref: '#/$defs/node' }]));
    const schema = { $defs: { node: { type: 'object', properties } }, $ref: '#/$defs/node' };
    const started = performance.now();
    const reply = await chat({ response_format: jsonSchema(schema) });
    assert.equal(reply.status, 400);
    assert.ok(performance.now() - started < 2_000, `took ${(performance.now() - started).toFixed(0)} ms`);
  });
});

describe('sandbox echoes', () => {
  test('n choices of an echoed 1 MB prompt cost about one: the text is split into tokens once', async () => {
    const text = 'word '.repeat(200_000);
    const started = performance.now();
    const reply = await chat({ n: 128, max_tokens: 1, messages: [{ role: 'user', content: text }] });
    assert.equal(reply.status, 200);
    const response = await fetch(`${server.origin}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sandbox/echo', n: 128, max_tokens: 1, prompt: text }),
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(response.status, 200);
    await response.text();
    assert.ok(performance.now() - started < 4_000, `took ${(performance.now() - started).toFixed(0)} ms`);
  });
});

describe('patternWork', () => {
  test('reads patterns the way the generator does', () => {
    assert.ok(patternWork('^[A-Z]{3}-[0-9]{4}$') < 100);
    assert.ok(patternWork('a{1000}') >= 1000);
    assert.ok(patternWork('(a{10}){10}') >= 100);
    assert.ok(patternWork('(?:ab|c{50})') >= 50);
    assert.ok(patternWork(`${'('.repeat(12)}a${')*'.repeat(12)}`) > 5 ** 12);
    assert.equal(patternWork(`${'('.repeat(400)}a`), Infinity);
  });
});

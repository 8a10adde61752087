import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ADMIN_KEY, eventually, freshPostgres, postgresAdminUrl, startPlatformServer, tempDir, type PlatformServer } from './helpers.js';

const servers: PlatformServer[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  for (const cleanup of cleanups) await cleanup();
});

async function start(...args: Parameters<typeof startPlatformServer>): Promise<PlatformServer> {
  const server = await startPlatformServer(...args);
  servers.push(server);
  return server;
}

const hello = { model: 'sandbox/echo', messages: [{ role: 'user' as const, content: 'Hello there' }] };

test('open on loopback until the first key; then keys are required; the audit id is on every chat reply', async () => {
  const server = await start();
  assert.equal(server.authenticator.open, true);
  const open = await server.client('anything').chat.completions.create(hello).withResponse();
  assert.match(open.response.headers.get('x-switchyard-audit-id') ?? '', /^aud_/);

  const created = await server.admin('POST', '/keys', { name: 'first' });
  assert.equal(created.status, 200);
  assert.match(created.body.value, /^sk_live_/);
  assert.equal(server.authenticator.open, false);
  await assert.rejects(server.client('anything').chat.completions.create(hello), (error: unknown) => error instanceof OpenAI.AuthenticationError);
  const { data, response } = await server.client(created.body.value).chat.completions.create(hello).withResponse();
  assert.equal(data.choices[0]!.message.content, 'Hello there');
  const auditId = response.headers.get('x-switchyard-audit-id')!;
  // The api-key header works too.
  const viaHeader = await fetch(`${server.baseURL}/chat/completions`, { method: 'POST', headers: { 'api-key': created.body.value, 'content-type': 'application/json' }, body: JSON.stringify(hello) });
  assert.equal(viaHeader.status, 200);

  // The usage record, by audit id, once written (batches, off the request path).
  const written = await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200);
  // A failure says what was written instead (this wait once timed out on a loaded machine, unexplained).
  if (!written) {
    const recent = (await server.admin('GET', '/requests?limit=20')).body.data.map((row: any) => `${row.audit_id} ${row.key_id} ${row.status}`);
    assert.fail(`no usage record for ${auditId} within 5 s; the request log holds: ${recent.join('; ') || 'nothing'}`);
  }
  const record = (await server.admin('GET', `/requests/${auditId}`)).body;
  assert.equal(record.key_id, created.body.id);
  assert.equal(record.workspace_id, 'ws_default');
  assert.equal(record.route, 'sandbox/echo');
  assert.equal(record.status, 'completed');
  assert.equal(record.usage.prompt_tokens, data.usage!.prompt_tokens);
  // Both calls of the key in the rollup: the second's record may land in a later batch than the first's.
  const rolledUp = async () => (await server.admin('GET', '/usage?group_by=key,model')).body.data.some((row: any) => row.key_id === created.body.id && row.model === 'sandbox/echo' && row.requests >= 2);
  assert.ok(await eventually(rolledUp), 'the rollup counts both calls of the key');
});

test('admin routes refuse API keys (403) and missing or wrong keys (401)', async () => {
  const server = await start();
  const { body } = await server.admin('POST', '/keys', { name: 'normal' });
  const asKey = await server.admin('GET', '/keys', undefined, body.value);
  assert.equal(asKey.status, 403);
  assert.equal(asKey.body.error.code, 'permission_denied');
  assert.equal(asKey.body.error.type, 'permission_error');
  assert.equal((await server.admin('GET', '/keys', undefined, 'sk_live_wrong')).status, 401);
  const none = await fetch(`${server.origin}/admin/v1/keys`);
  assert.equal(none.status, 401);
  assert.equal((await server.admin('GET', '/keys')).status, 200);
});

test('sk_test_ keys are served by the sandbox whatever the model, and accounted as sandboxed', async () => {
  const server = await start({ providers: [{ id: 'upstream', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', models: ['gpt-4o'] }, { id: 'sandbox', kind: 'sandbox' }] });
  const { body } = await server.admin('POST', '/keys', { test: true });
  assert.match(body.value, /^sk_test_/);
  assert.equal(body.workspace_id, 'ws_sandbox');
  const { data, response } = await server.client(body.value).chat.completions.create({ ...hello, model: 'gpt-4o' }).withResponse();
  assert.equal(response.headers.get('x-switchyard-route'), 'sandbox/echo');
  assert.equal(data.choices[0]!.message.content, 'Hello there');
  const lorem = await server.client(body.value).chat.completions.create({ ...hello, model: 'sandbox/lorem' }).withResponse();
  assert.equal(lorem.response.headers.get('x-switchyard-route'), 'sandbox/lorem');
  const auditId = response.headers.get('x-switchyard-audit-id')!;
  const written = await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200);
  // A failure says what was written instead (this wait once timed out on a loaded machine, unexplained).
  if (!written) {
    const recent = (await server.admin('GET', '/requests?limit=20')).body.data.map((row: any) => `${row.audit_id} ${row.key_id} ${row.status}`);
    assert.fail(`no usage record for ${auditId} within 5 s; the request log holds: ${recent.join('; ') || 'nothing'}`);
  }
  const record = (await server.admin('GET', `/requests/${auditId}`)).body;
  assert.equal(record.sandboxed, true);
  assert.equal(record.model, 'gpt-4o');
  assert.equal(record.cost_usd, 0);
});

test("cost is priced by the model that answered, also through an alias and after a fallback", async () => {
  const server = await start({
    providers: [{ id: 'down', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', models: ['m'] }, { id: 'sandbox', kind: 'sandbox' }],
    aliases: { cheap: ['down/m', 'sandbox/echo'] },
    usage: { prices: { 'sandbox/echo': { input: 1_000_000, output: 2_000_000 } } },
  });
  const { body } = await server.admin('POST', '/keys', {});
  const { data, response } = await server.client(body.value).chat.completions.create({ ...hello, model: 'cheap' }).withResponse();
  assert.equal(response.headers.get('x-switchyard-route'), 'alias:cheap > sandbox/echo (after 1 fallback)');
  const auditId = response.headers.get('x-switchyard-audit-id')!;
  assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200));
  const record = (await server.admin('GET', `/requests/${auditId}`)).body;
  assert.equal(record.cost_usd, data.usage!.prompt_tokens * 1 + data.usage!.completion_tokens * 2);
});

test('admin API bad input: OpenAI-shaped 400s naming the field, a bodiless POST with a JSON content type, an unknown workspace', async () => {
  const server = await start();
  const wrongType = await server.admin('POST', '/keys', { name: 5 });
  assert.equal(wrongType.status, 400);
  assert.deepEqual([wrongType.body.error.code, wrongType.body.error.param], ['invalid_type', 'name']);
  assert.match(wrongType.body.error.message, /expected a string, but got an integer/);
  const notObject = await server.admin('POST', '/keys', []);
  assert.deepEqual([notObject.status, notObject.body.error.code, notObject.body.error.param], [400, 'invalid_type', null]);
  const past = await server.admin('POST', '/keys', { expires_at: 1000 });
  assert.deepEqual([past.status, past.body.error.param], [400, 'expires_at']);
  const unknownWorkspace = await server.admin('POST', '/keys', { workspace_id: 'ws_nope' });
  assert.deepEqual([unknownWorkspace.status, unknownWorkspace.body.error.param], [404, 'workspace_id']);
  // A limit must be positive: the message asks for what it takes, not for the 0 it refused.
  const zeroLimit = await server.admin('POST', '/keys', { limits: { requests_per_minute: 0 } });
  assert.deepEqual([zeroLimit.status, zeroLimit.body.error.param], [400, 'limits.requests_per_minute']);
  assert.match(zeroLimit.body.error.message, /expected a value greater than 0, but got 0 instead/);
  // A grouping it does not know is named with the value given, under the query's own name.
  const badGroup = await server.admin('GET', '/usage?group_by=model,week');
  assert.deepEqual([badGroup.status, badGroup.body.error.code, badGroup.body.error.param], [400, 'invalid_value', 'group_by']);
  assert.match(badGroup.body.error.message, /'week'\. Supported values are: 'workspace', 'key', 'model', 'day'/);
  assert.equal((await server.admin('GET', '/usage?group_by=model,day')).status, 200);

  // What the Python SDK and `curl -H content-type:...` send: the header with no body.
  const { body: key } = await server.admin('POST', '/keys', { name: 'to-revoke' });
  const revoked = await fetch(`${server.origin}/admin/v1/keys/${key.id}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
  });
  assert.equal(revoked.status, 200, await revoked.clone().text());
  assert.equal(((await revoked.json()) as { status: string }).status, 'revoked');
});

test('rotation grace and expiry over HTTP', async () => {
  const server = await start();
  const { body: first } = await server.admin('POST', '/keys', { name: 'rotating' });
  const { body: rotated } = await server.admin('POST', `/keys/${first.id}/rotate`, { grace_seconds: 1 });
  assert.equal(rotated.rotated_from, first.id);
  // Both work during the grace period...
  await server.client(first.value).chat.completions.create(hello);
  await server.client(rotated.value).chat.completions.create(hello);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  // ...and only the new one after it, with no store read needed (the cached row knows its deadline).
  await assert.rejects(server.client(first.value).chat.completions.create(hello), OpenAI.AuthenticationError);
  await server.client(rotated.value).chat.completions.create(hello);
  const { body: immediate } = await server.admin('POST', `/keys/${rotated.id}/rotate`, { grace_seconds: 0 });
  await assert.rejects(server.client(rotated.value).chat.completions.create(hello), OpenAI.AuthenticationError);
  await server.client(immediate.value).chat.completions.create(hello);
  // A key created already expiring.
  const { body: short } = await server.admin('POST', '/keys', { expires_in_seconds: 1 });
  await server.client(short.value).chat.completions.create(hello);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await assert.rejects(server.client(short.value).chat.completions.create(hello), OpenAI.AuthenticationError);
});

for (const dialect of ['SQLite', 'PostgreSQL'] as const) {
  const postgres = dialect === 'PostgreSQL' ? await postgresAdminUrl() : undefined;
  const skip = dialect === 'PostgreSQL' && !postgres ? 'PostgreSQL is not reachable on 127.0.0.1:5432' : false;
  test(`revocation on one node is seen by a second node within 1 s (${dialect})`, { skip }, async () => {
    const shared = dialect === 'PostgreSQL' ? await freshPostgres() : undefined;
    if (shared) cleanups.push(shared.drop);
    const dataDir = tempDir();
    const nodeA = await start({}, { dataDir, ...(shared ? { databaseUrl: shared.url } : {}) });
    const nodeB = await start({}, { dataDir, ...(shared ? { databaseUrl: shared.url } : {}) });
    const { body } = await nodeA.admin('POST', '/keys', { name: 'shared' });
    // B learns of the key (and that keys now exist) from the store.
    assert.ok(await eventually(() => !nodeB.authenticator.open, 2000));
    await nodeB.client(body.value).chat.completions.create(hello);
    await nodeB.client(body.value).chat.completions.create(hello); // served from B's cache
    const revokedAt = Date.now();
    assert.equal((await nodeA.admin('POST', `/keys/${body.id}/revoke`)).status, 200);
    await assert.rejects(nodeA.client(body.value).chat.completions.create(hello), OpenAI.AuthenticationError);
    const refused = await eventually(async () => {
      const response = await fetch(`${nodeB.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${body.value}`, 'content-type': 'application/json' }, body: JSON.stringify(hello) });
      return response.status === 401;
    }, 1000);
    assert.ok(refused, `node B still accepted the key ${Date.now() - revokedAt} ms after revocation`);
  });
}

test('the hot path reads no store row per request after a key is first used', async () => {
  const queries: string[] = [];
  const server = await start({}, { onQuery: (sql) => queries.push(sql) });
  const { body } = await server.admin('POST', '/keys', { name: 'hot', limits: { requests_per_minute: 1000 } });
  const client = server.client(body.value);
  await client.chat.completions.create(hello);
  const reads = () => queries.filter((sql) => /^select/i.test(sql) && /"(api_keys|workspaces)"/.test(sql) && !/"version" >/.test(sql)).length;
  const before = reads();
  for (let index = 0; index < 30; index++) await client.chat.completions.create({ ...hello, stream: index % 2 === 0 ? undefined : false });
  const stream = await client.chat.completions.create({ ...hello, stream: true });
  for await (const _chunk of stream) void _chunk;
  assert.equal(reads() - before, 0, 'key or workspace rows read after first use');
});

test('a key in use costs no keyed hash per request, and is still refused at once when revoked', async () => {
  const server = await start();
  const { body } = await server.admin('POST', '/keys', { name: 'memo' });
  const client = server.client(body.value);
  await client.chat.completions.create(hello);
  const hasher = server.platform.store.hasher;
  const digest = hasher.digest.bind(hasher);
  let hashed = 0;
  hasher.digest = (secret: string) => {
    if (secret === body.value) hashed++;
    return digest(secret);
  };
  for (let index = 0; index < 10; index++) await client.chat.completions.create(hello);
  assert.equal(hashed, 0, 'the HMAC digest was computed again for a key already in use');
  // The remembered digest leads to the key's cache entry, which the revocation drops on this node.
  assert.equal((await server.admin('POST', `/keys/${body.id}/revoke`)).status, 200);
  await assert.rejects(client.chat.completions.create(hello), OpenAI.AuthenticationError);
});

test('a revocation is seen at once on its node even while a poll of the key store is under way', async () => {
  // A long poll interval: only the revocation's own refresh can drop the key in this test.
  const server = await start({ keys: { changePollMs: 1_000 } });
  const { body } = await server.admin('POST', '/keys', { name: 'raced' });
  const client = server.client(body.value);
  await client.chat.completions.create(hello);
  // A poll reads the change counter just before the revocation commits, and is slow to finish.
  const store = server.platform.store;
  const keyVersion = store.keyVersion.bind(store);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  store.keyVersion = async () => {
    const version = await keyVersion();
    await gate;
    return version;
  };
  const polling = server.platform.authenticator.refresh();
  await new Promise((resolve) => setTimeout(resolve, 20));
  store.keyVersion = keyVersion;
  const revoking = server.admin('POST', `/keys/${body.id}/revoke`);
  setTimeout(open, 100);
  assert.equal((await revoking).status, 200);
  await polling;
  await assert.rejects(client.chat.completions.create(hello), OpenAI.AuthenticationError);
});

test('secrets never reach the log', async () => {
  const server = await start(
    { providers: [{ id: 'down', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', models: ['broken'] }, { id: 'sandbox', kind: 'sandbox' }] },
    { logLevel: 'trace' },
  );
  const { body: key } = await server.admin('POST', '/keys', { name: 'logged?' });
  const { body: rotated } = await server.admin('POST', `/keys/${key.id}/rotate`, {});
  await server.client(key.value).chat.completions.create(hello);
  await server.client(rotated.value).chat.completions.create({ ...hello, stream: false });
  await assert.rejects(server.client(rotated.value).chat.completions.create({ ...hello, model: 'broken' }));
  await assert.rejects(server.client('sk_live_not_a_real_key_at_all_000000000000000').chat.completions.create(hello));
  await server.admin('GET', '/keys', undefined, key.value);
  // Log something that carries the headers, as a plugin or a debug line might.
  server.app.log.info({ req: { headers: { authorization: `Bearer ${rotated.value}`, 'api-key': rotated.value } } }, 'request seen');
  const log = server.log.join('');
  assert.ok(log.length > 0, 'something was logged');
  for (const secret of [key.value, rotated.value, ADMIN_KEY]) assert.ok(!log.includes(secret), 'a secret is in the log');
  assert.ok(!/sk_live_[A-Za-z0-9]{20,}/.test(log));
});

test('the request log pages as OpenAI lists do: after the last id, has_more, first_id/last_id; an unknown cursor is a 400 naming after', async () => {
  const server = await start();
  const ids: string[] = [];
  for (let index = 0; index < 5; index++) {
    const { response } = await server.client('any').chat.completions.create(hello).withResponse();
    ids.push(response.headers.get('x-switchyard-audit-id')!);
  }
  assert.ok(await eventually(async () => (await server.admin('GET', '/requests?limit=10')).body.data.length === 5));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = (await server.admin('GET', `/requests?limit=2${cursor ? `&after=${cursor}` : ''}`)).body;
    pages++;
    assert.equal(page.first_id, page.data[0]?.audit_id ?? null);
    assert.equal(page.last_id, page.data.at(-1)?.audit_id ?? null);
    seen.push(...page.data.map((row: { audit_id: string }) => row.audit_id));
    if (!page.has_more) break;
    cursor = page.last_id;
  }
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...ids].reverse(), 'every record once, newest first');
  const unknown = await server.admin('GET', '/requests?after=aud_nosuchrecord');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.param, 'after');
});

for (const dialect of ['SQLite', 'PostgreSQL'] as const) {
  const postgres = dialect === 'PostgreSQL' ? await postgresAdminUrl() : undefined;
  const skip = dialect === 'PostgreSQL' && !postgres ? 'PostgreSQL is not reachable on 127.0.0.1:5432' : false;
  test(`admin times in queries are whole milliseconds, and a 400 naming the parameter out of range, not a 500 (${dialect})`, { skip }, async () => {
    const shared = dialect === 'PostgreSQL' ? await freshPostgres() : undefined;
    if (shared) cleanups.push(shared.drop);
    const server = await start({}, shared ? { databaseUrl: shared.url } : {});
    const { response } = await server.client('any').chat.completions.create(hello).withResponse();
    const auditId = response.headers.get('x-switchyard-audit-id')!;
    assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200));
    const createdMs = Math.round((await server.admin('GET', `/requests/${auditId}`)).body.created_at * 1000);
    // A fraction of a millisecond is rounded away: the record's own time still finds it.
    const inside = `${Math.floor(createdMs / 1000)}.${String(createdMs % 1000).padStart(3, '0')}0004`;
    for (const query of [`since=${inside}`, `until=${(createdMs + 1) / 1000 + 0.0004}`, 'since=1.0005', 'until=1796355127.0001&since=1000.5']) {
      const found = await server.admin('GET', `/requests?${query}`);
      assert.equal(found.status, 200, `${query}: ${JSON.stringify(found.body)}`);
      if (!query.startsWith('until=1796')) assert.ok(found.body.data.some((row: { audit_id: string }) => row.audit_id === auditId), query);
    }
    for (const [query, param] of [['since=1e17', 'since'], ['until=1e17', 'until'], ['since=-1', 'since'], ['until=253402300800', 'until'], ['since=Infinity', 'since']] as const) {
      for (const route of ['/requests', '/usage/series']) {
        const refused = await server.admin('GET', `${route}?${query}`);
        assert.equal(refused.status, 400, `${route}?${query}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.error.param, param, `${route}?${query}`);
      }
    }
    const now = Date.now() / 1000;
    const series = await server.admin('GET', `/usage/series?since=${now - 600.0005}&until=${now + 0.0005}`);
    assert.equal(series.status, 200, JSON.stringify(series.body));
  });
}

test('an expiry past 9999-12-31T23:59:59Z is a 400 naming its field, and nothing is stored', async () => {
  const server = await start();
  for (const [body, param] of [
    [{ expires_in_seconds: 9007199254740991 }, 'expires_in_seconds'],
    [{ expires_in_seconds: 253402300799 }, 'expires_in_seconds'],
    [{ expires_at: 253402300800 }, 'expires_at'],
    [{ expires_at: 9007199254740991 }, 'expires_at'],
  ] as const) {
    const refused = await server.admin('POST', '/keys', body);
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.equal(refused.body.error.param, param);
    assert.match(refused.body.error.message, /9999-12-31T23:59:59Z/);
  }
  assert.equal((await server.admin('GET', '/keys')).body.data.length, 0);
  const latest = await server.admin('POST', '/keys', { expires_at: 253402300799 });
  assert.equal(latest.status, 200);
  assert.equal(latest.body.expires_at, 253402300799);
});

test('a rotation grace past 30 days, or out of range, is a 400 naming grace_seconds, and the key is not rotated', async () => {
  const server = await start();
  const { body: key } = await server.admin('POST', '/keys', { name: 'graceful' });
  const tooLong = await server.admin('POST', `/keys/${key.id}/rotate`, { grace_seconds: 9007199254740 });
  assert.deepEqual([tooLong.status, tooLong.body.error.param], [400, 'grace_seconds']);
  assert.match(tooLong.body.error.message, /less than or equal to 2592000/);
  // `1e400` is valid JSON that reads as Infinity: a number out of range, not "a number instead of a number".
  const huge = await fetch(`${server.origin}/admin/v1/keys/${key.id}/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: '{"grace_seconds": 1e400}',
  });
  const hugeError = ((await huge.json()) as { error: { message: string; param: string; code: string } }).error;
  assert.equal(huge.status, 400);
  assert.deepEqual([hugeError.param, hugeError.code], ['grace_seconds', 'invalid_value']);
  assert.match(hugeError.message, /out of range/);
  assert.equal((await server.admin('GET', `/keys/${key.id}`)).body.rotated_to, null, 'nothing was rotated');
  // The store holds the bound for any caller, before it writes.
  await assert.rejects(server.platform.store.rotateKey(key.id, 2592001), (error: { param?: string }) => error.param === 'grace_seconds');
  assert.equal((await server.platform.store.getKey(key.id))!.rotatedTo, null);
  const longest = await server.admin('POST', `/keys/${key.id}/rotate`, { grace_seconds: 2592000 });
  assert.equal(longest.status, 200);
});

const refusedOn = async (node: PlatformServer, secret: string) => {
  const response = await fetch(`${node.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(hello) });
  await response.text();
  return response.status === 401;
};

test("revoking a rotated key revokes the secrets it replaced that were still in their grace, at once", async () => {
  const server = await start();
  const { body: first } = await server.admin('POST', '/keys', { name: 'chain' });
  // first → second (a day of grace) → third (an hour): the first and second secrets both still work.
  const { body: second } = await server.admin('POST', `/keys/${first.id}/rotate`, { grace_seconds: 86_400 });
  const { body: third } = await server.admin('POST', `/keys/${second.id}/rotate`, { grace_seconds: 3_600 });
  for (const secret of [first.value, second.value, third.value]) await server.client(secret).chat.completions.create(hello);
  const revoked = await server.admin('POST', `/keys/${third.id}/revoke`);
  assert.equal(revoked.body.status, 'revoked');
  for (const secret of [third.value, second.value, first.value]) assert.ok(await refusedOn(server, secret), 'a secret of the revoked chain still works');
  const statuses = (await server.admin('GET', '/keys')).body.data.map((key: { id: string; status: string }) => [key.id, key.status]);
  assert.deepEqual(statuses, [[first.id, 'revoked'], [second.id, 'revoked'], [third.id, 'revoked']]);
  // Revoking a predecessor alone ends only its own grace.
  const { body: other } = await server.admin('POST', '/keys', { name: 'other' });
  const { body: next } = await server.admin('POST', `/keys/${other.id}/rotate`, { grace_seconds: 3_600 });
  await server.admin('POST', `/keys/${other.id}/revoke`);
  assert.ok(await refusedOn(server, other.value));
  await server.client(next.value).chat.completions.create(hello);
});

for (const dialect of ['SQLite', 'PostgreSQL'] as const) {
  const postgres = dialect === 'PostgreSQL' ? await postgresAdminUrl() : undefined;
  const skip = dialect === 'PostgreSQL' && !postgres ? 'PostgreSQL is not reachable on 127.0.0.1:5432' : false;
  test(`revoking a rotated key ends its predecessor's grace on a second node within 1 s (${dialect})`, { skip }, async () => {
    const shared = dialect === 'PostgreSQL' ? await freshPostgres() : undefined;
    if (shared) cleanups.push(shared.drop);
    const dataDir = tempDir();
    const nodeA = await start({}, { dataDir, ...(shared ? { databaseUrl: shared.url } : {}) });
    const nodeB = await start({}, { dataDir, ...(shared ? { databaseUrl: shared.url } : {}) });
    const { body: old } = await nodeA.admin('POST', '/keys', { name: 'rotated' });
    const { body: current } = await nodeA.admin('POST', `/keys/${old.id}/rotate`, { grace_seconds: 86_400 });
    assert.ok(await eventually(() => !nodeB.authenticator.open, 2000));
    // B holds both secrets in its cache.
    for (const secret of [old.value, current.value]) await nodeB.client(secret).chat.completions.create(hello);
    const revokedAt = Date.now();
    assert.equal((await nodeA.admin('POST', `/keys/${current.id}/revoke`)).status, 200);
    assert.ok(await refusedOn(nodeA, old.value), 'node A still accepts the old secret');
    const refused = await eventually(async () => (await refusedOn(nodeB, old.value)) && (await refusedOn(nodeB, current.value)), 1000);
    assert.ok(refused, `node B still accepted a secret of the chain ${Date.now() - revokedAt} ms after revocation`);
  });
}

test('usage days must be days of the calendar: 400 naming from or to, as the CLI refuses them', async () => {
  const server = await start();
  for (const [query, param] of [['from=2025-13-45', 'from'], ['to=2025-02-30', 'to'], ['from=2025-1-01', 'from']] as const) {
    const refused = await server.admin('GET', `/usage?${query}`);
    assert.deepEqual([refused.status, refused.body.error.param, refused.body.error.code], [400, param, 'invalid_value'], query);
    assert.match(refused.body.error.message, /must be a date, YYYY-MM-DD/);
  }
  assert.equal((await server.admin('GET', '/usage?from=2024-02-29&to=2024-12-31')).status, 200);
});

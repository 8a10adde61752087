import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UiAssets } from '../../src/http/ui/ui-assets.js';
import { startUiServer, UI_ADMIN_KEY, type UiServer } from '../helpers/ui-server.js';

const servers: UiServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A fake build: an index page and one hashed asset, no sources (so no rebuild is attempted). */
function fakeUi(): UiAssets {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-ui-dist-'));
  mkdirSync(path.join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'dist', 'index.html'), '<!doctype html><title>ui</title>');
  writeFileSync(path.join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)');
  return new UiAssets(dir);
}

async function start(ui = fakeUi()) {
  const server = await startUiServer({ sandbox: true }, ui);
  servers.push(server);
  return server;
}

async function signIn(server: UiServer, key = UI_ADMIN_KEY) {
  const response = await fetch(`${server.origin}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: key }) });
  const body = (await response.json()) as any;
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { status: response.status, body, setCookie, cookie: setCookie.split(';')[0]! };
}

test('sign-in sets an httpOnly SameSite=Strict cookie; the cookie opens the admin API only with its CSRF token', async () => {
  const server = await start();
  const wrong = await signIn(server, 'sk_admin_wrong');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.setCookie, '');

  const { status, body, setCookie, cookie } = await signIn(server);
  assert.equal(status, 200);
  assert.match(setCookie, /^switchyard_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  assert.equal(typeof body.csrf_token, 'string');

  const keys = (headers: Record<string, string>) => fetch(`${server.origin}/admin/v1/keys`, { headers });
  // The cookie alone (what a cross-site form or fetch could send) is refused.
  const cookieOnly = await keys({ cookie });
  assert.equal(cookieOnly.status, 403);
  assert.match(((await cookieOnly.json()) as any).error.message, /CSRF/);
  assert.equal((await keys({ cookie, 'x-switchyard-csrf': 'forged' })).status, 403);
  assert.equal((await keys({ cookie, 'x-switchyard-csrf': body.csrf_token })).status, 200);
  // A forged or tampered cookie is nothing.
  const tampered = cookie.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
  assert.equal((await keys({ cookie: tampered, 'x-switchyard-csrf': body.csrf_token })).status, 401);
  // A CSRF token belongs to its session.
  const other = await signIn(server);
  assert.equal((await keys({ cookie: other.cookie, 'x-switchyard-csrf': body.csrf_token })).status, 403);

  // State-changing calls work on the session, and GET /ui/session hands the token back after a reload.
  const created = await fetch(`${server.origin}/admin/v1/keys`, { method: 'POST', headers: { cookie, 'x-switchyard-csrf': body.csrf_token, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'from-ui' }) });
  assert.equal(created.status, 200);
  const resumed = await fetch(`${server.origin}/ui/session`, { headers: { cookie } });
  assert.equal(((await resumed.json()) as any).csrf_token, body.csrf_token);
  assert.equal((await fetch(`${server.origin}/ui/session`)).status, 401);
  const signedOut = await fetch(`${server.origin}/ui/session`, { method: 'DELETE', headers: { cookie } });
  assert.match(signedOut.headers.get('set-cookie') ?? '', /Max-Age=0/);
});

test('/ui serves the build: hashed assets immutable, the page no-cache, a strict CSP; the app routes on the hash', async () => {
  const server = await start();
  const redirect = await fetch(`${server.origin}/ui`, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), '/ui/');
  const index = await fetch(`${server.origin}/ui/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  assert.match(index.headers.get('content-type') ?? '', /text\/html/);
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(index.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  const asset = await fetch(`${server.origin}/ui/assets/index-abc123.js`);
  assert.equal(asset.status, 200);
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(asset.headers.get('content-type') ?? '', /javascript/);
  assert.equal((await fetch(`${server.origin}/ui/assets/missing.js`)).status, 404);
  assert.equal((await fetch(`${server.origin}/ui/assets/..%2f..%2fpackage.json`)).status, 404);
  const deep = await fetch(`${server.origin}/ui/keys`);
  assert.equal(deep.status, 200);
  assert.match(await deep.text(), /<title>ui<\/title>/);
});

test('without a build, /ui says how to make one', async () => {
  const server = await start(new UiAssets(mkdtempSync(path.join(tmpdir(), 'switchyard-no-ui-'))));
  const response = await fetch(`${server.origin}/ui/`);
  assert.equal(response.status, 404);
  assert.match(await response.text(), /npm run build/);
});

test('usage series per minute and per day, tiers, models with circuit state, and the playground', async () => {
  const server = await start();
  await server.client('any').chat.completions.create({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'count me' }] });
  let minute: any;
  for (let tries = 0; tries < 100; tries++) {
    minute = (await server.admin('GET', '/usage/series?bucket=minute')).body;
    if (minute.data.some((point: any) => point.requests > 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(minute.object, 'usage.series');
  assert.equal(minute.data.length, 60);
  const last = minute.data.at(-1);
  assert.equal(last.requests, 1);
  assert.equal(last.errors, 0);
  assert.ok(last.prompt_tokens > 0 && last.completion_tokens > 0);
  assert.equal(typeof last.latency_p50_ms, 'number');
  assert.ok(last.latency_p95_ms >= last.latency_p50_ms);
  assert.equal(minute.data[0].requests, 0);
  assert.equal(minute.data[0].latency_p50_ms, null);

  const daily = (await server.admin('GET', '/usage/series?bucket=day')).body;
  assert.equal(daily.data.length, 30);
  assert.equal(daily.data.at(-1).requests, 1);
  assert.equal(daily.data.at(-1).start, Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`) / 1000);
  const filtered = (await server.admin('GET', '/usage/series?bucket=minute&model=sandbox/lorem')).body;
  assert.equal(filtered.data.reduce((sum: number, point: any) => sum + point.requests, 0), 0);
  assert.equal((await server.admin('GET', '/usage/series?bucket=minute&since=0')).status, 400);

  const tiers = (await server.admin('GET', '/tiers')).body;
  assert.equal(tiers.default_tier, 'pro');
  assert.deepEqual(tiers.data.map((tier: any) => tier.name).sort(), ['free', 'pro', 'scale']);
  assert.equal(tiers.data.find((tier: any) => tier.name === 'free').monthly_token_budget, 2_000_000);

  const models = (await server.admin('GET', '/models')).body;
  const echo = models.data.find((model: any) => model.id === 'sandbox/echo');
  assert.equal(echo.circuit, 'closed');
  assert.equal(echo.loaded, null);
  assert.equal(echo.recent_requests, 1);
  assert.equal(echo.recent_error_rate, 0);
  assert.ok(models.aliases.includes('fast'));

  // The playground: the chat API as the admin, streamed.
  const response = await fetch(`${server.origin}/admin/v1/playground/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${UI_ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'hi there' }] }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.match(response.headers.get('x-switchyard-route') ?? '', /sandbox\/echo/);
  const text = await response.text();
  assert.match(text, /data: \[DONE\]/);
  const unauthenticated = await fetch(`${server.origin}/admin/v1/playground/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(unauthenticated.status, 401);
});

test('models: calls made through an alias count for the target that answered or failed them', async () => {
  const server = await startUiServer(
    {
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        // Nothing listens on port 9: every call to it fails before its first byte.
        { id: 'dead', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'x', models: ['gone'] },
      ],
      aliases: { broken: ['dead/gone'], flaky: ['dead/gone', 'sandbox/echo'] },
      routing: { baseDelayMs: 1, maxDelayMs: 2 },
    },
    fakeUi(),
  );
  servers.push(server);
  const client = server.client('any');
  await assert.rejects(client.chat.completions.create({ model: 'broken', messages: [{ role: 'user', content: 'x' }] }));
  await client.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'y' }] });
  let models: any;
  for (let tries = 0; tries < 100; tries++) {
    models = (await server.admin('GET', '/models')).body;
    if (models.data.find((model: any) => model.id === 'sandbox/echo').recent_requests > 0 && models.data.find((model: any) => model.id === 'dead/gone').recent_requests > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const gone = models.data.find((model: any) => model.id === 'dead/gone');
  assert.equal(gone.recent_requests, 1);
  assert.equal(gone.recent_error_rate, 1);
  const echo = models.data.find((model: any) => model.id === 'sandbox/echo');
  assert.equal(echo.recent_requests, 1);
  assert.equal(echo.recent_error_rate, 0);
});

// An admin UI session is bound to the admin key it was opened with: replacing a leaked admin key
// (SWITCHYARD_ADMIN_KEY) ends the sessions opened with it, on every node, without a new server secret.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { UiAssets } from '../../src/http/ui/ui-assets.js';
import { Platform } from '../../src/platform/platform.js';
import { startServer, type RunningServer } from '../helpers/start-server.js';

const SECRET = 'switchyard-session-binding-secret-0123456789';
const OLD_KEY = 'sk_admin_old_0123456789abcdefghijklmnopqrstuvwxyz';
const NEW_KEY = 'sk_admin_new_0123456789abcdefghijklmnopqrstuvwxyz';

const servers: RunningServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

function fakeUi(): UiAssets {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-ui-dist-'));
  mkdirSync(path.join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'dist', 'index.html'), '<!doctype html><title>ui</title>');
  return new UiAssets(dir);
}

/** A node of the same deployment (same server secret), started with this admin key. */
async function node(adminKey: string): Promise<RunningServer> {
  const env = { SWITCHYARD_ADMIN_KEY: adminKey, SWITCHYARD_SECRET: SECRET };
  const config: ConfigInput = { sandbox: true, store: { dataDir: mkdtempSync(path.join(tmpdir(), 'switchyard-session-')) } };
  const platform = await Platform.open({ config: parseConfig(config, 'test config', {}), env });
  const server = await startServer(config, { platform, env, ui: fakeUi() });
  servers.push(server);
  return server;
}

test('a session opened with an admin key that was since replaced opens nothing', async () => {
  const first = await node(OLD_KEY);
  const signIn = await fetch(`${first.origin}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: OLD_KEY }) });
  assert.equal(signIn.status, 200);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
  const { csrf_token: csrf } = (await signIn.json()) as { csrf_token: string };
  const headers = { cookie, 'x-switchyard-csrf': csrf };
  assert.equal((await fetch(`${first.origin}/admin/v1/keys`, { headers })).status, 200, 'the session works while its key is the admin key');

  const rotated = await node(NEW_KEY);
  const refused = await fetch(`${rotated.origin}/admin/v1/keys`, { headers });
  assert.equal(refused.status, 401);
  assert.equal((await fetch(`${rotated.origin}/ui/session`, { headers: { cookie } })).status, 401, 'nor does it read a CSRF token');
  // The new key signs in as before.
  const fresh = await fetch(`${rotated.origin}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: NEW_KEY }) });
  assert.equal(fresh.status, 200);
});

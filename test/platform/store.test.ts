import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../src/store/store.js';
import { freshPostgres, postgresAdminUrl, SECRET, tempDir } from './helpers.js';

const env = { SWITCHYARD_SECRET: SECRET };

interface Backend {
  name: string;
  open(): Promise<{ store: Store; reopen: () => Promise<Store>; cleanup: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open() {
      const dataDir = tempDir();
      const reopen = () => Store.open({ dataDir, env });
      return { store: await reopen(), reopen, cleanup: async () => {} };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const database = await freshPostgres();
      const dataDir = tempDir();
      const reopen = () => Store.open({ dataDir, databaseUrl: database.url, env });
      return { store: await reopen(), reopen, cleanup: database.drop };
    },
  },
];

const postgres = await postgresAdminUrl();

for (const backend of backends) {
  const skip = backend.name === 'PostgreSQL' && !postgres ? 'PostgreSQL is not reachable on 127.0.0.1:5432' : false;
  describe(`store on ${backend.name}`, { skip }, () => {
    test('migrations run once and again without harm; a different secret is refused', async () => {
      const { store, reopen, cleanup } = await backend.open();
      await store.close();
      const again = await reopen();
      assert.equal(await again.countKeys(), 0);
      await again.close();
      if (backend.name === 'SQLite') {
        const dataDir = again.location.replace(/\/switchyard\.sqlite$/, '');
        await assert.rejects(Store.open({ dataDir, env: { SWITCHYARD_SECRET: 'another-secret-0123456789' } }), /different server secret/);
      }
      await cleanup();
    });

    test('keys: sk_live_/sk_test_ with 256 bits, stored as HMAC and prefix only', async () => {
      const { store, cleanup } = await backend.open();
      const live = await store.createKey({ name: 'live' });
      assert.match(live.secret, /^sk_live_[A-Za-z0-9]{44}$/);
      assert.equal(live.key.workspaceId, 'ws_default');
      const testKey = await store.createKey({ name: 'test', test: true });
      assert.match(testKey.secret, /^sk_test_[A-Za-z0-9]{44}$/);
      assert.equal(testKey.key.workspaceId, 'ws_sandbox');
      const rows = await store.db.selectFrom('api_keys').selectAll().execute();
      for (const row of rows) {
        assert.ok(!JSON.stringify(row).includes(live.secret.slice(14)), 'no secret in a row');
        assert.equal(row.secret_hash, store.hasher.digest(row.id === live.key.id ? live.secret : testKey.secret));
      }
      const found = await store.findKeyByDigest(store.hasher.digest(live.secret));
      assert.equal(found?.key.id, live.key.id);
      assert.equal(found?.workspace.sandboxed, false);
      await assert.rejects(store.createKey({ test: true, workspaceId: 'ws_default' }), /sandboxed workspace/);
      await store.close();
      await cleanup();
    });

    test('rotation: the old secret has a grace deadline; revocation; change counter', async () => {
      const { store, cleanup } = await backend.open();
      const { key } = await store.createKey({ name: 'a', allowedModels: ['sandbox/*'], limits: { requestsPerMinute: 5 } });
      const before = await store.keyVersion();
      const rotated = await store.rotateKey(key.id, 60);
      assert.equal(rotated.key.rotatedFrom, key.id);
      assert.equal(rotated.previous.rotatedTo, rotated.key.id);
      assert.deepEqual(rotated.key.allowedModels, ['sandbox/*']);
      assert.deepEqual(rotated.key.limits, { requestsPerMinute: 5 });
      assert.ok(Math.abs(rotated.previous.expiresAt! - (Date.now() + 60_000)) < 5_000);
      assert.ok((await store.keyVersion()) > before);
      const changed = await store.keysChangedSince(before);
      assert.equal(changed.length, 2);
      await assert.rejects(store.rotateKey(key.id, 60), /already rotated/);
      const immediate = await store.rotateKey(rotated.key.id, 0);
      assert.ok(immediate.previous.expiresAt! <= Date.now());
      const revoked = await store.revokeKey(immediate.key.id);
      assert.ok(revoked.revokedAt !== null);
      await store.close();
      await cleanup();
    });

    test('usage: batches, daily rollup, filters, budget sums', async () => {
      const { store, cleanup } = await backend.open();
      const base = { request_id: 'r', key_id: 'key_a', workspace_id: 'ws_a', sandboxed: 0, model_asked: 'm', provider_id: 'sandbox', stream: 0, reasoning_tokens: 1, cached_tokens: 0, latency_ms: 2.5, ttft_ms: 1.25, error_code: null };
      const records = Array.from({ length: 450 }, (_, index) => ({
        ...base,
        audit_id: `aud_${index}`,
        created_at: 1_000_000 + index,
        day: index < 300 ? '2030-01-01' : '2030-01-02',
        route: index % 2 === 0 ? 'sandbox/echo' : 'sandbox/lorem',
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_usd: 0.001,
        status: index % 10 === 0 ? 'failed' : 'completed',
      }));
      await store.usage.insertBatch(records.slice(0, 200));
      await store.usage.insertBatch(records.slice(200));
      assert.equal(await store.usage.count(), 450);
      const byDay = await store.usage.summary(['day']);
      assert.deepEqual(byDay.map((row) => [row.day, row.requests, row.prompt_tokens]), [['2030-01-01', 300, 3000], ['2030-01-02', 150, 1500]]);
      const [total] = await store.usage.summary([]);
      assert.equal(total!.errors, 45);
      assert.ok(Math.abs(total!.cost_usd - 0.45) < 1e-9);
      assert.equal((await store.usage.summary(['model'], { from: '2030-01-02' })).length, 2);
      assert.equal(await store.usage.tokensSince('ws_a', '2030-01-02'), 150 * 15);
      const log = await store.usage.requests({ status: 'failed', limit: 5 });
      assert.equal(log.length, 5);
      assert.equal(log[0]!.audit_id, 'aud_440');
      assert.equal(log[0]!.ttft_ms, 1.25);
      assert.equal((await store.usage.byAuditId('aud_7'))?.route, 'sandbox/lorem');
      // A replay (records already written, and a new one) adds only the new one, to the log and to the rollup.
      const persona = { ...base, audit_id: 'aud_new', created_at: 2_000_000, day: '2030-01-02', route: 'sandbox/echo', prompt_tokens: 10, completion_tokens: 5, cost_usd: 0.001, status: 'completed' };
      await store.usage.insertBatch([...records.slice(440), { ...persona, drift_score: 0.25, drift_alert: 1, layers: 'persona:p > sandbox/echo', recovery: null }]);
      assert.equal(await store.usage.count(), 451);
      const [replayed] = await store.usage.summary([]);
      assert.equal(replayed!.requests, 451);
      assert.equal(replayed!.prompt_tokens, 4510);
      const stored = await store.usage.byAuditId('aud_new');
      assert.deepEqual([stored?.drift_score, stored?.drift_alert, stored?.layers, stored?.recovery], [0.25, 1, 'persona:p > sandbox/echo', null]);
      await store.close();
      await cleanup();
    });
  });
}

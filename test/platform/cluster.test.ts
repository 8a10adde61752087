import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../../src/store/store.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';
import { ADMIN_KEY, freshPostgres, postgresAdminUrl, REDIS_URL, redisAvailable, SECRET, tempDir } from './helpers.js';

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups) await cleanup();
});

type Node = SpawnedServer;

/** `switchyard serve` as its own process, as an operator runs it. */
async function spawnNode(configFile: string, databaseUrl: string): Promise<Node> {
  const node = await spawnServer(
    configFile,
    { DATABASE_URL: databaseUrl, REDIS_URL, SWITCHYARD_SECRET: SECRET, SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_NO_DEFAULT_MODEL: '1', NODE_ENV: 'test' },
    20_000,
  );
  children.push(node.child);
  return node;
}

const body = (index: number) =>
  JSON.stringify({ model: 'sandbox/echo', messages: [{ role: 'user', content: `request ${index}` }], max_tokens: 8, ...(index % 5 === 0 ? { stream: true } : {}) });

/** One request, failing over to the other node when this one is shutting down (503 without an audit id, or a refused connection). */
async function send(nodes: Node[], index: number, key: string): Promise<{ status: number; auditId: string | null }> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const node = nodes[(index + attempt) % nodes.length]!;
    try {
      const response = await fetch(`${node.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body(index),
      });
      await response.text();
      const auditId = response.headers.get('x-switchyard-audit-id');
      if (auditId) return { status: response.status, auditId };
    } catch {
      // the node is gone: the next one
    }
  }
  throw new Error(`request ${index} found no node`);
}

async function burst(nodes: Node[], key: string, total: number, concurrency: number, onProgress?: (done: number) => void) {
  const results: Array<{ status: number; auditId: string | null }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const index = next++;
        results.push(await send(nodes, index, key));
        onProgress?.(results.length);
      }
    }),
  );
  return results;
}

const postgres = await postgresAdminUrl();
const redis = await redisAvailable();
const skip = !postgres ? 'PostgreSQL is not reachable on 127.0.0.1:5432' : !redis ? 'Redis is not reachable on 127.0.0.1:6379' : false;

const TOTAL = 1000;
const LIMIT = 600;

for (const withSigterm of [false, true]) {
  test(
    `${TOTAL} requests through two processes sharing PostgreSQL and Redis: the requests/min limit exact, ${TOTAL} usage records${withSigterm ? ', SIGTERM mid-burst' : ''}`,
    { skip, timeout: 120_000 },
    async () => {
      const database = await freshPostgres();
      cleanups.push(database.drop);
      const configFile = path.join(tempDir(), 'switchyard.json');
      writeFileSync(configFile, JSON.stringify({ server: { logLevel: 'warn', shutdownTimeoutMs: 5000 }, store: { dataDir: tempDir() }, usage: { flushIntervalMs: 200 } }));
      const nodes = [await spawnNode(configFile, database.url), await spawnNode(configFile, database.url)];
      const created = await fetch(`${nodes[0]!.origin}/admin/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'burst', limits: { requests_per_minute: LIMIT } }),
      });
      const key = ((await created.json()) as { value: string }).value;
      await new Promise((resolve) => setTimeout(resolve, 800)); // node B sees that keys exist

      let stopped: Promise<number | null> | undefined;
      const results = await burst(nodes, key, TOTAL, 32, (done) => {
        if (withSigterm && !stopped && done >= TOTAL / 3) {
          nodes[0]!.child.kill('SIGTERM');
          stopped = nodes[0]!.exited;
        }
      });
      assert.equal(results.length, TOTAL);
      assert.equal(results.filter((result) => result.status === 200).length, LIMIT, 'successes = the limit, exactly');
      assert.equal(results.filter((result) => result.status === 429).length, TOTAL - LIMIT);
      if (stopped) assert.equal(await stopped, 0, 'the stopped node exits cleanly');

      for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGTERM');
      await Promise.all(nodes.map((node) => node.exited));
      const store = await Store.open({ dataDir: tempDir(), databaseUrl: database.url, env: { SWITCHYARD_SECRET: SECRET } });
      try {
        assert.equal(await store.usage.count(), TOTAL, 'one usage record per request');
        const audited = new Set(results.map((result) => result.auditId));
        assert.equal(audited.size, TOTAL);
        const [total] = await store.usage.summary([]);
        assert.equal(total!.requests, TOTAL);
        assert.equal(total!.errors, TOTAL - LIMIT);
      } finally {
        await store.close();
      }
    },
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '../../src/cli/serve.js';
import { parseConfig } from '../../src/config/load-config.js';

test('the admin key made at first start is printed even when the server then fails to start', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchyard-admin-key-'));
  const saved = process.env.SWITCHYARD_ADMIN_KEY;
  delete process.env.SWITCHYARD_ADMIN_KEY;
  try {
    // The store (and the admin key in it) opens fine; building the server refuses the config.
    const config = parseConfig({ store: { dataDir }, drift: { embeddingModel: 'sandbox/no-such-model' } }, 'test', {});
    const lines: string[] = [];
    await assert.rejects(serve({ config, insecureNoAuth: false, print: (line) => lines.push(line) }), /drift\.embeddingModel/);
    assert.ok(lines.some((line) => /^Admin key for \/admin\/v1 .*: sk_admin_\w+$/.test(line)), `printed: ${JSON.stringify(lines)}`);
  } finally {
    if (saved !== undefined) process.env.SWITCHYARD_ADMIN_KEY = saved;
    await rm(dataDir, { recursive: true, force: true });
  }
});

// The admin API's model pulls: a GGUF downloaded into the model cache with its progress, joined
// when asked twice, cancelled, and refused with OpenAI-shaped errors when the URI is wrong.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startUiServer, type UiServer } from '../helpers/ui-server.js';
import { startGgufHost } from '../helpers/gguf-host.js';

let server: UiServer;
let host: Awaited<ReturnType<typeof startGgufHost>>;
const cacheDir = mkdtempSync(path.join(tmpdir(), 'switchyard-pull-cache-'));

before(async () => {
  host = await startGgufHost();
  server = await startUiServer({ providers: [{ id: 'sandbox', kind: 'sandbox' }, { id: 'local', kind: 'llama', modelCacheDir: cacheDir, models: [] }] });
});
after(async () => {
  await server.close();
  await host.close();
});

test('a pull reports progress, is joined when asked again, and ends with the file in the cache', async () => {
  const first = await server.admin('POST', '/models/pulls', { uri: host.url });
  assert.equal(first.status, 200);
  assert.equal(first.body.status, 'downloading');
  const again = await server.admin('POST', '/models/pulls', { uri: host.url });
  assert.equal(again.body.id, first.body.id, 'the running pull is joined');
  const seen: number[] = [];
  let job = first.body;
  for (let i = 0; i < 200 && job.status === 'downloading'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    job = (await server.admin('GET', `/models/pulls/${first.body.id}`)).body;
    seen.push(job.downloaded_bytes);
  }
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.total_bytes, host.size);
  assert.ok(new Set(seen.filter((bytes) => bytes > 0 && bytes < host.size)).size >= 2, `progress seen between start and end: ${seen.join(',')}`);
  assert.equal(statSync(job.file).size, host.size);
  assert.ok(job.file.startsWith(cacheDir));
  assert.ok((await server.admin('GET', '/models/pulls')).body.data.some((entry: { id: string }) => entry.id === first.body.id));
});

test('bad URIs and unknown pulls are OpenAI-shaped errors', async () => {
  const missing = await server.admin('POST', '/models/pulls', {});
  assert.deepEqual([missing.status, missing.body.error.param, missing.body.error.code], [400, 'uri', 'missing_required_parameter']);
  const bad = await server.admin('POST', '/models/pulls', { uri: 'ftp://example.com/x.gguf' });
  assert.deepEqual([bad.status, bad.body.error.param], [400, 'uri']);
  const unknown = await server.admin('GET', '/models/pulls/pull_nope');
  assert.equal(unknown.status, 404);
});

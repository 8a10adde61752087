// `switchyard keys …` as a user runs it: the real CLI process on a real SQLite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../src/store/store.js';

const run = promisify(execFile);
const CLI = path.resolve('bin/switchyard.mjs');

test('keys create takes limits of at least 1 (0 is refused, not read as no limit); rotate takes a grace from 0 to 30 days', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-keys-cli-'));
  try {
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }\n`);
    const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, SWITCHYARD_CONFIG: '', DATABASE_URL: '' } });

    const created = JSON.parse((await cli('keys', 'create', '--name', 'limited', '--rpm', '5', '--concurrency', '1', '--json')).stdout) as { id: string; value: string; limits: unknown };
    assert.match(created.value, /^sk_live_/);
    assert.deepEqual(created.limits, { requests_per_minute: 5, tokens_per_minute: null, concurrent_requests: 1 });

    for (const flag of ['--rpm', '--tpm', '--concurrency']) {
      await assert.rejects(cli('keys', 'create', flag, '0'), (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 2);
        assert.match(error.stderr, new RegExp(`${flag}: must be at least 1`));
        return true;
      });
    }
    const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as { data: unknown[] };
    assert.equal(listed.data.length, 1, 'no key was made by the refused commands');

    // A grace past 30 days is refused before the store rotates anything (its secret would be lost).
    await assert.rejects(cli('keys', 'rotate', created.id, '--grace', '9007199254740'), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /--grace: at most 2592000 seconds/);
      return true;
    });
    const unrotated = JSON.parse((await cli('keys', 'list', '--json')).stdout) as { data: Array<{ rotated_to: string | null }> };
    assert.deepEqual(unrotated.data.map((key) => key.rotated_to), [null]);
    const text = (await cli('keys', 'rotate', created.id, '--grace', '2592000')).stdout;
    assert.match(text, /^sk_live_\w+\n\nKey key_\w+ replaces key_\w+, whose secret works until \d{4}-/);
    const successor = /Key (key_\w+) replaces/.exec(text)![1]!;
    const rotated = JSON.parse((await cli('keys', 'rotate', successor, '--grace', '0', '--json')).stdout) as { previous: { expires_at: number | string } };
    assert.ok(rotated.previous.expires_at, 'the old secret expires at once');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('keys --help answers, a command without its action and a bad date are usage errors (2), and none of them creates the data directory', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-keys-cli-'));
  try {
    const dataDir = path.join(dir, 'data');
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `store: { dataDir: ${JSON.stringify(dataDir)} }\n`);
    const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, SWITCHYARD_CONFIG: '', DATABASE_URL: '' } });
    assert.match((await cli('keys', '--help')).stdout, /switchyard keys create/);
    for (const args of [['keys'], ['workspaces'], ['usage', '--from', 'garbage'], ['usage', '--to', '2025-02-30']]) {
      await assert.rejects(cli(...args), (error: { code: number }) => error.code === 2, args.join(' '));
    }
    const { existsSync } = await import('node:fs');
    assert.equal(existsSync(dataDir), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a reader that stops early (`switchyard keys list | head -0`) ends the output quietly with exit code 0, not an EPIPE crash', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-keys-cli-'));
  try {
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }\n`);
    const env = { ...process.env, SWITCHYARD_CONFIG: '', DATABASE_URL: '' };
    for (let index = 0; index < 3; index++) await run(process.execPath, [CLI, 'keys', 'create', '--name', `k${index}`, '--config', config], { env });
    const { spawn } = await import('node:child_process');
    // The pipe's reading end is closed before the command writes: its first write meets EPIPE.
    const child = spawn(process.execPath, [CLI, 'keys', 'list', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (piece: Buffer) => (stderr += piece.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('keys create refuses an expiry past 9999-12-31; keys list (text and --json) survives a stored expiry no date can show', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-keys-cli-'));
  try {
    const dataDir = path.join(dir, 'data');
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `store: { dataDir: ${JSON.stringify(dataDir)} }\n`);
    const env = { ...process.env, SWITCHYARD_CONFIG: '', DATABASE_URL: '', SWITCHYARD_SECRET: 'switchyard-test-secret-0123456789' };
    const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', config], { env });
    await assert.rejects(cli('keys', 'create', '--expires-in', '104249991374'), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /--expires-in: at most \d+ days \(expiries end at 9999-12-31T23:59:59Z\)/);
      return true;
    });
    const created = JSON.parse((await cli('keys', 'create', '--name', 'far', '--json')).stdout) as { id: string };
    // A row written before expiries were bounded (the admin API took 2^53 - 1 seconds).
    const store = await Store.open({ dataDir, env });
    try {
      await store.db.updateTable('api_keys').set({ expires_at: 9007199254740991 * 1000 }).where('id', '=', created.id).execute();
    } finally {
      await store.close();
    }
    const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as { data: Array<{ id: string; expires_at: number }> };
    assert.deepEqual(listed.data.map((key) => [key.id, key.expires_at]), [[created.id, 9007199254740991]]);
    const text = (await cli('keys', 'list')).stdout;
    assert.match(text, new RegExp(`${created.id}.*9007199254740991000`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

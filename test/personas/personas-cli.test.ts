// `switchyard personas …` as a user runs it: the real CLI process on a real SQLite store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = path.resolve('bin/switchyard.mjs');

test('personas create, list, show and delete through the CLI', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-personas-cli-'));
  try {
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }\n`);
    const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', config], { env: { ...process.env, SWITCHYARD_CONFIG: '' } });

    const file = path.join(dir, 'pirate.yaml');
    await writeFile(file, 'id: persona_pirate\nname: Pirate\nbase_model: sandbox/echo\nsystem_prompt: Talk like a pirate.\nrecovery: { policy: regenerate }\n');
    const created = await cli('personas', 'create', '--file', file);
    assert.match(created.stdout, /persona:\/\/persona_pirate/);

    const listed = JSON.parse((await cli('personas', 'list', '--json')).stdout) as { data: Array<{ id: string; recovery: { policy: string } }> };
    assert.deepEqual(listed.data.map((persona) => [persona.id, persona.recovery.policy]), [['persona_pirate', 'regenerate']]);
    assert.match((await cli('personas', 'list')).stdout, /persona:\/\/persona_pirate\s+Pirate\s+sandbox\/echo\s+regenerate/);
    assert.match((await cli('personas', 'show', 'persona_pirate')).stdout, /system_prompt: Talk like a pirate\./);

    await writeFile(file, 'name: Broken\nsystem_prompt: x\n');
    await assert.rejects(cli('personas', 'create', '--file', file), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /base_model/);
      return true;
    });

    await cli('personas', 'delete', 'persona_pirate');
    assert.deepEqual(JSON.parse((await cli('personas', 'list', '--json')).stdout).data, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load-config.js';

/** The message a config fails with, or a failure when it does not. */
function refusal(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(raw, 'switchyard.yaml', env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted: ${JSON.stringify(raw)}`);
}

test('an invalid config names the file, the field path and the reason, also inside unions', () => {
  assert.match(refusal({ server: { port: 'eighty' } }), /switchyard\.yaml:\n {2}server\.port: .*number/);
  // An alias is a list or an object: the message comes from the branch the value was meant as.
  assert.match(refusal({ aliases: { x: { targets: ['sandbox/echo'], strategy: 'bogus' } } }), /aliases\.x\.strategy: Invalid option/);
});

test('${VAR} interpolation: defaults, an empty value, an unset one named with its file, numbers and booleans where the schema wants them', () => {
  assert.equal(parseConfig({ server: { port: '${PORT:-8123}' } }, 'c', {}).server.port, 8123);
  assert.equal(parseConfig({ server: { port: '${PORT}' } }, 'c', { PORT: '9001' }).server.port, 9001);
  assert.equal(parseConfig({ server: { port: '${PORT:-8123}' } }, 'c', { PORT: '' }).server.port, 8123, ':- takes the default for an empty value');
  // Not interpolated, a quoted number stays what it is: an error for a number field.
  assert.match(refusal({ server: { port: '8080' } }), /server\.port/);
  // An empty variable is the empty string: the field's own rule refuses it, by name.
  const empty = refusal({ providers: [{ id: 'claude', kind: 'anthropic', apiKey: '${AKEY}' }] }, { AKEY: '' });
  assert.match(empty, /providers\[0\]\.apiKey/);
  assert.doesNotMatch(empty, /not set/);
  assert.match(refusal({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', apiKey: '${NOPE}' }] }), /switchyard\.yaml:\n {2}providers\[0\]\.apiKey: environment variable NOPE is not set/);
  // Inside a union too (an alias is a list or an object).
  assert.equal((parseConfig({ aliases: { x: { targets: ['sandbox/echo'], retries: '${R}' } } }, 'c', { R: '2' }).aliases.x as { retries: number }).retries, 2);
  // A numeric secret stays text.
  const numericKey = parseConfig({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', apiKey: '${OKEY}', models: ['m'] }] }, 'c', { OKEY: '12345' });
  assert.equal((numericKey.providers[0] as { apiKey?: unknown }).apiKey, '12345');
});

test('defaultTier must name a tier, given or by default', () => {
  assert.match(refusal({ defaultTier: 'gold' }), /defaultTier: 'gold' is not one of the tiers \(free, pro, scale\)/);
  assert.match(refusal({ tiers: { free: {} } }), /defaultTier: 'pro' \(the default\) is not one of the tiers \(free\); set defaultTier/);
  assert.match(refusal({ defaultTier: 'constructor' }), /defaultTier: 'constructor' is not one of the tiers/);
  assert.equal(parseConfig({ tiers: { free: {} }, defaultTier: 'free' }, 'c', {}).defaultTier, 'free');
});

test('a YAML file is read, and its name is in the message', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-config-'));
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'server:\n  port: -1\n');
  await assert.rejects(loadConfigFile(file, {}), (error: unknown) => error instanceof ConfigError && error.message.includes(file) && /server\.port/.test(error.message));
});

test('serve --model joins the config\'s own local engine provider, and refuses what it cannot join', async () => {
  const { withModelFile } = await import('../../src/cli/default-model.js');
  const withLocal = parseConfig({ providers: [{ id: 'local', kind: 'llama', models: [{ id: 'other', file: '/models/other.gguf' }] }] }, 'c', {});
  const joined = withModelFile(withLocal, '/models/tiny.gguf');
  const local = joined.providers.find((provider) => provider.id === 'local') as { models: Array<{ id: string }> };
  assert.deepEqual(local.models.map((model) => model.id), ['other', 'tiny.gguf']);
  assert.throws(() => withModelFile(withLocal, '/elsewhere/other'), /already declares a model 'other'/);
  const otherKind = parseConfig({ providers: [{ id: 'local', kind: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', models: ['m'] }] }, 'c', {});
  assert.throws(() => withModelFile(otherKind, '/models/tiny.gguf'), /provider 'local' is of kind 'openai-compatible'/);
});

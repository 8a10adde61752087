import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { MAX_ROTATION_GRACE_SECONDS } from '../config/platform-schema.js';
import { keyJson, toKeyLimits, usageRecordJson, workspaceJson } from '../http/routes/admin.js';
import { Store } from '../store/store.js';
import type { UsageGroup } from '../store/usage-store.js';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { PersonaCatalog } from '../gateway/personas/persona-catalog.js';
import type { Persona } from '../gateway/personas/persona.js';
import { PersonaStore } from '../store/persona-store.js';
import { isCalendarDay, isoTime, LATEST_TIME_MS, LATEST_TIME_TEXT } from '../util/unix-time.js';

export const PLATFORM_HELP = `  switchyard keys create [--name NAME] [--workspace ID] [--test] [--models a,b] [--expires-in DAYS]
                         [--rpm N] [--tpm N] [--concurrency N]
      Create an API key (sk_live_…; --test: sk_test_…, served by the sandbox). The secret is shown once.
  switchyard keys list [--workspace ID]
  switchyard keys rotate KEY_ID [--grace SECONDS]
      A new secret; the old one keeps working for the grace period (default keys.rotationGraceSeconds,
      at most 2592000 s, 30 days).
  switchyard keys revoke KEY_ID
      Refused at once; the keys it was rotated from, if still in their grace, are revoked with it.
  switchyard workspaces list | create NAME [--tier TIER] [--sandboxed] | set-tier ID TIER
  switchyard usage [--by key,model,day,workspace] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--workspace ID]
  switchyard requests [--workspace ID] [--key KEY_ID] [--limit N]
  switchyard personas list | show ID | delete ID | create --file PERSONA.json|yaml
      Personas (called as persona://ID); the file holds the admin API's body (name, base_model, system_prompt, ...).
      These open the store directly (store.dataDir, or DATABASE_URL) and take --config and --json.
`;

export const PLATFORM_COMMANDS = new Set(['keys', 'workspaces', 'usage', 'requests', 'personas']);

class UsageError extends Error {}

/** A whole-number flag; limits start at 1 (0 would read as "no limit" downstream), a grace may be 0. */
function wholeNumber(value: string | undefined, flag: string, minimum = 1): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new UsageError(`${flag}: not a whole number: ${value}`);
  if (number < minimum) throw new UsageError(`${flag}: must be at least ${minimum}: ${value}`);
  return number;
}

/** Columns holding Unix seconds: shown as ISO times in tables, as `requests` shows them (JSON keeps the seconds). */
const TIME_COLUMNS = new Set(['created_at', 'expires_at', 'last_used_at', 'revoked_at']);

function cell(column: string, value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (TIME_COLUMNS.has(column) && typeof value === 'number') return isoTime(value * 1000);
  return String(value);
}

function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => columns.map((column) => cell(column, row[column])));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => line[index]!.length)));
  const format = (line: string[]) => line.map((cell, index) => cell.padEnd(widths[index]!)).join('  ').trimEnd();
  return `${[format(columns), ...cells.map(format)].join('\n')}\n`;
}

/** `switchyard keys|workspaces|usage|requests …`: talks to the same store as the server. */
export async function platformCommand(argv: string[], print: (text: string) => void = (text) => process.stdout.write(text)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
      name: { type: 'string' },
      workspace: { type: 'string' },
      key: { type: 'string' },
      test: { type: 'boolean', default: false },
      models: { type: 'string' },
      'expires-in': { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      concurrency: { type: 'string' },
      grace: { type: 'string' },
      tier: { type: 'string' },
      sandboxed: { type: 'boolean', default: false },
      by: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      file: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, action, ...rest] = positionals;
  // Help, and a command missing its action, are answered before the store is touched (opening it
  // creates the data directory).
  if (values.help) {
    print(`${PLATFORM_HELP}\n`);
    return 0;
  }
  if ((command === 'keys' || command === 'workspaces' || command === 'personas') && action === undefined) {
    process.stderr.write(`switchyard ${command}: which action?\n\n${PLATFORM_HELP}\n`);
    return 2;
  }
  // Dates are checked here too: a typo must not quietly match nothing.
  for (const flag of ['from', 'to'] as const) {
    const value = values[flag];
    if (value !== undefined && !isCalendarDay(value)) {
      process.stderr.write(`--${flag}: not a date (YYYY-MM-DD): ${value}\n`);
      return 2;
    }
  }
  const file = values.config ?? process.env.SWITCHYARD_CONFIG;
  const config: Config = file ? await loadConfigFile(file) : parseConfig({}, 'defaults');
  const store = await Store.open({
    dataDir: config.store.dataDir,
    databaseUrl: config.store.databaseUrl ?? (process.env.DATABASE_URL || undefined),
    defaultTier: config.defaultTier,
  });
  // The text is made only when it is printed: `--json` never depends on formatting it.
  const out = (json: unknown, text: () => string) => print(values.json ? `${JSON.stringify(json, null, 2)}\n` : text());
  try {
    if (command === 'keys') {
      if (action === 'create') {
        const days = wholeNumber(values['expires-in'], '--expires-in');
        // Refused before anything is written: an expiry past the bound cannot be shown or stored safely.
        const maxDays = Math.floor((LATEST_TIME_MS - Date.now()) / 86_400_000);
        if (days !== undefined && days > maxDays) throw new UsageError(`--expires-in: at most ${maxDays} days (expiries end at ${LATEST_TIME_TEXT}): ${days}`);
        const created = await store.createKey({
          name: values.name,
          workspaceId: values.workspace,
          test: values.test || undefined,
          allowedModels: values.models ? values.models.split(',').map((model) => model.trim()).filter(Boolean) : null,
          limits: toKeyLimits({
            requests_per_minute: wholeNumber(values.rpm, '--rpm'),
            tokens_per_minute: wholeNumber(values.tpm, '--tpm'),
            concurrent_requests: wholeNumber(values.concurrency, '--concurrency'),
          }),
          expiresAt: days ? Date.now() + days * 86_400_000 : null,
        });
        out({ ...keyJson(created.key), value: created.secret }, () => `${created.secret}\n\nKey ${created.key.id} in workspace ${created.key.workspaceId}. Keep the secret now: it is not shown again.\n`);
        return 0;
      }
      if (action === 'list') {
        const keys = (await store.listKeys({ workspaceId: values.workspace })).map(keyJson);
        out({ object: 'list', data: keys }, () => table(keys, ['id', 'name', 'workspace_id', 'redacted_value', 'status', 'created_at', 'expires_at', 'last_used_at']));
        return 0;
      }
      if (action === 'rotate' && rest[0]) {
        const grace = wholeNumber(values.grace, '--grace', 0) ?? config.keys.rotationGraceSeconds;
        // Refused before the store commits anything: after that, the new secret must be printed.
        if (grace > MAX_ROTATION_GRACE_SECONDS) throw new UsageError(`--grace: at most ${MAX_ROTATION_GRACE_SECONDS} seconds (30 days): ${grace}`);
        const rotated = await store.rotateKey(rest[0], grace);
        out(
          { ...keyJson(rotated.key), value: rotated.secret, previous: keyJson(rotated.previous) },
          () => `${rotated.secret}\n\nKey ${rotated.key.id} replaces ${rest[0]}, whose secret works until ${isoTime(rotated.previous.expiresAt!)}.\n`,
        );
        return 0;
      }
      if (action === 'revoke' && rest[0]) {
        const key = await store.revokeKey(rest[0]);
        out(keyJson(key), () => `Revoked ${key.id}${key.rotatedFrom ? ' and the keys it replaced' : ''}: refused by every node within a second.\n`);
        return 0;
      }
    }
    if (command === 'workspaces') {
      if (action === 'list' || action === undefined) {
        const workspaces = (await store.listWorkspaces()).map(workspaceJson);
        out({ object: 'list', data: workspaces }, () => table(workspaces, ['id', 'name', 'tier', 'sandboxed', 'created_at']));
        return 0;
      }
      const checkTier = (tier: string | undefined) => {
        if (tier !== undefined && !config.tiers[tier]) throw new UsageError(`Unknown tier '${tier}'. Tiers: ${Object.keys(config.tiers).join(', ')}.`);
      };
      if (action === 'create' && rest[0]) {
        checkTier(values.tier);
        const workspace = await store.createWorkspace({ name: rest[0], tier: values.tier, sandboxed: values.sandboxed });
        out(workspaceJson(workspace), () => `Workspace ${workspace.id} (${workspace.name}, tier ${workspace.tier}${workspace.sandboxed ? ', sandboxed' : ''}).\n`);
        return 0;
      }
      if (action === 'set-tier' && rest[0] && rest[1]) {
        checkTier(rest[1]);
        const workspace = await store.updateWorkspace(rest[0], { tier: rest[1] });
        out(workspaceJson(workspace), () => `Workspace ${workspace.id} is now on tier ${workspace.tier}.\n`);
        return 0;
      }
    }
    if (command === 'personas') {
      const catalog = new PersonaCatalog(new PersonaStore(store.db));
      const personaRow = (persona: Persona) => ({ id: persona.id, model: `persona://${persona.id}`, name: persona.name, base_model: persona.base_model, recovery: persona.recovery.policy });
      if (action === 'list' || action === undefined) {
        const personas = await catalog.list();
        out({ object: 'list', data: personas }, () => table(personas.map(personaRow), ['model', 'name', 'base_model', 'recovery']));
        return 0;
      }
      if (action === 'show' && rest[0]) {
        const persona = await catalog.get(rest[0]);
        if (!persona) throw new UsageError(`No persona with id '${rest[0]}'.`);
        out(persona, () => `${YAML.stringify(persona)}`);
        return 0;
      }
      if (action === 'delete' && rest[0]) {
        if (!(await catalog.delete(rest[0]))) throw new UsageError(`No persona with id '${rest[0]}'.`);
        out({ id: rest[0], deleted: true }, () => `Deleted ${rest[0]}.\n`);
        return 0;
      }
      if (action === 'create' && values.file) {
        const body: unknown = YAML.parse(await readFile(values.file, 'utf8'));
        let persona: Persona;
        try {
          persona = await catalog.save(body);
        } catch (error) {
          if (!(error instanceof z.ZodError)) throw error;
          const issue = error.issues[0]!;
          throw new UsageError(`${values.file}: ${issue.path.join('.') || '(body)'}: ${issue.message}`);
        }
        out(persona, () => `Persona ${persona.id}: call it as persona://${persona.id}.\n`);
        return 0;
      }
    }
    if (command === 'usage') {
      const by = (values.by ?? 'day,model').split(',').map((part) => part.trim()).filter(Boolean);
      const bad = by.find((group) => !['workspace', 'key', 'model', 'day'].includes(group));
      if (bad) throw new UsageError(`--by: unknown grouping '${bad}' (workspace, key, model, day)`);
      const rows = await store.usage.summary(by as UsageGroup[], { from: values.from, to: values.to, workspaceId: values.workspace, keyId: values.key });
      const columns = [...by.map((group) => ({ workspace: 'workspace_id', key: 'key_id', model: 'model', day: 'day' })[group]!), 'requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost_usd'];
      out({ object: 'list', data: rows }, () => table(rows.map((row) => ({ ...row, cost_usd: row.cost_usd.toFixed(6) })), columns));
      return 0;
    }
    if (command === 'requests') {
      const records = (await store.usage.requests({ workspaceId: values.workspace, keyId: values.key, limit: wholeNumber(values.limit, '--limit') ?? 20 })).map(usageRecordJson);
      out(
        { object: 'list', data: records },
        () =>
          table(
            records.map((record) => ({ ...record, created_at: isoTime(record.created_at * 1000), tokens: record.usage.total_tokens })),
            ['created_at', 'audit_id', 'key_id', 'model', 'route', 'status', 'tokens', 'latency_ms', 'error_code'],
          ),
      );
      return 0;
    }
    throw new UsageError(`Unknown command: switchyard ${positionals.join(' ')}\n\n${PLATFORM_HELP}`);
  } catch (error) {
    process.stderr.write(`${error instanceof UsageError ? '' : 'Error: '}${(error as Error).message}\n`);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    await store.close();
  }
}

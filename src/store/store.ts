import type { Kysely, Transaction } from 'kysely';
import { SwitchyardError, ValidationError } from '../errors/errors.js';
import { LATEST_TIME_MS, LATEST_TIME_TEXT } from '../util/unix-time.js';
import { MAX_ROTATION_GRACE_SECONDS } from '../config/platform-schema.js';
import { randomId } from '../util/ids.js';
import { newSecret, SecretHasher, visiblePrefix } from './key-secrets.js';
import { migrate } from './migrations.js';
import { openDatabase, type Dialect } from './open-database.js';
import { loadServerSecret } from './server-secret.js';
import type { ApiKeyTable, Database, WorkspaceTable } from './tables.js';
import { UsageStore } from './usage-store.js';
import type { SqliteConnection } from './sqlite-usage-writer.js';

/** A key's own limits, tighter than its workspace's tier. */
export interface KeyLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  concurrentRequests?: number;
}

export interface WorkspaceRecord {
  id: string;
  name: string;
  tier: string;
  sandboxed: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface KeyRecord {
  id: string;
  workspaceId: string;
  name: string;
  /** The visible start of the secret (`sk_live_Ab12cd`). */
  prefix: string;
  allowedModels: string[] | null;
  limits: KeyLimits | null;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  /** The first key of its rotation chain (its own id if never rotated): what per-key limits count under. */
  lineageId: string;
}

/** A key found by its secret, with its workspace: what authentication caches. */
export interface KeyIdentity {
  key: KeyRecord;
  workspace: WorkspaceRecord;
}

export type KeyStatus = 'active' | 'expired' | 'revoked';

export function keyStatus(key: KeyRecord, now = Date.now()): KeyStatus {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  return 'active';
}

export interface CreateKeyInput {
  name?: string | undefined;
  workspaceId?: string | undefined;
  /** An `sk_test_` key, in a sandboxed workspace (the default sandbox workspace when none is named). */
  test?: boolean | undefined;
  allowedModels?: string[] | null | undefined;
  limits?: KeyLimits | null | undefined;
  expiresAt?: number | null | undefined;
}

export interface CreatedKey {
  key: KeyRecord;
  /** The whole secret: shown once, never stored. */
  secret: string;
}

export interface OpenStoreOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Tier given to the default workspaces when they are first created. */
  defaultTier?: string;
  onQuery?: (sql: string) => void;
}

export const DEFAULT_WORKSPACE_ID = 'ws_default';
export const SANDBOX_WORKSPACE_ID = 'ws_sandbox';

function toWorkspace(row: WorkspaceTable): WorkspaceRecord {
  return { id: row.id, name: row.name, tier: row.tier, sandboxed: row.sandboxed === 1, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toKey(row: ApiKeyTable): KeyRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    prefix: row.prefix,
    allowedModels: row.allowed_models === null ? null : (JSON.parse(row.allowed_models) as string[]),
    limits: row.limits === null ? null : (JSON.parse(row.limits) as KeyLimits),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    rotatedFrom: row.rotated_from,
    rotatedTo: row.rotated_to,
    lineageId: row.lineage_id ?? row.id,
  };
}

/** `param` names the field that held the id: `id` in a path, `workspace_id` in a new key's body. */
function notFound(what: string, id: string, param = 'id'): SwitchyardError {
  return new SwitchyardError('not_found', `No ${what} with id '${id}'.`, { param });
}

/**
 * The platform's state behind one interface: workspaces, keys, usage, settings. SQLite in the data
 * directory by default, PostgreSQL when a URL is given; the same queries serve both.
 */
export class Store {
  readonly usage: UsageStore;

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    readonly location: string,
    readonly hasher: SecretHasher,
    private readonly defaultTier: string,
    sqlite?: SqliteConnection,
  ) {
    this.usage = new UsageStore(db, sqlite);
  }

  static async open(options: OpenStoreOptions): Promise<Store> {
    const env = options.env ?? process.env;
    const opened = openDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, ...(options.onQuery ? { onQuery: options.onQuery } : {}) });
    try {
      await migrate(opened.db);
      const hasher = new SecretHasher(loadServerSecret(options.dataDir, env));
      const store = new Store(opened.db, opened.dialect, opened.location, hasher, options.defaultTier ?? 'pro', opened.sqlite);
      await store.checkSecret();
      return store;
    } catch (error) {
      await opened.db.destroy();
      throw error;
    }
  }

  /** Keys hashed under one secret cannot be checked under another: refuse rather than reject every key. */
  private async checkSecret(): Promise<void> {
    const fingerprint = this.hasher.fingerprint();
    const stored = await this.getSetting('secret_fingerprint');
    if (stored === undefined) {
      await this.db
        .insertInto('settings')
        .values({ name: 'secret_fingerprint', value: fingerprint, updated_at: Date.now() })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .execute();
      const winner = await this.getSetting('secret_fingerprint');
      if (winner === fingerprint) return;
    } else if (stored === fingerprint) return;
    throw new Error(
      `The store at ${this.location} was set up with a different server secret: its API keys cannot be checked. ` +
        'Give every node the same SWITCHYARD_SECRET (or the same data directory).',
    );
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // ── settings ─────────────────────────────────────────────────────────────

  async getSetting(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
    return row?.value;
  }

  /** Sets a value unless one is there; returns the value that won. */
  async setSettingOnce(name: string, value: string): Promise<string> {
    await this.db
      .insertInto('settings')
      .values({ name, value, updated_at: Date.now() })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .execute();
    return (await this.getSetting(name))!;
  }

  async setSetting(name: string, value: string): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('settings')
      .values({ name, value, updated_at: now })
      .onConflict((conflict) => conflict.column('name').doUpdateSet({ value, updated_at: now }))
      .execute();
  }

  // ── change tracking ──────────────────────────────────────────────────────

  /** The one cheap read every node polls: it moves whenever a key or workspace changes. */
  async keyVersion(): Promise<number> {
    const row = await this.db.selectFrom('counters').select('value').where('name', '=', 'keys').executeTakeFirstOrThrow();
    return Number(row.value);
  }

  /** Digests of keys changed after `version` (their workspace's changes included). */
  async keysChangedSince(version: number): Promise<string[]> {
    const rows = await this.db.selectFrom('api_keys').select('secret_hash').where('version', '>', version).execute();
    return rows.map((row) => row.secret_hash);
  }

  /** Bumps the counter inside a transaction; its row lock orders concurrent changes by commit. */
  private async bump(transaction: Transaction<Database>): Promise<number> {
    const row = await transaction
      .updateTable('counters')
      .set((eb) => ({ value: eb('value', '+', 1) }))
      .where('name', '=', 'keys')
      .returning('value')
      .executeTakeFirstOrThrow();
    return Number(row.value);
  }

  async countKeys(): Promise<number> {
    const row = await this.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  // ── workspaces ───────────────────────────────────────────────────────────

  async createWorkspace(input: { name: string; tier?: string | undefined; sandboxed?: boolean | undefined; id?: string }): Promise<WorkspaceRecord> {
    const now = Date.now();
    const row: WorkspaceTable = {
      id: input.id ?? randomId('ws_', 16),
      name: input.name,
      tier: input.tier ?? this.defaultTier,
      sandboxed: input.sandboxed ? 1 : 0,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('workspaces').values(row).execute();
    return toWorkspace(row);
  }

  async getWorkspace(id: string): Promise<WorkspaceRecord | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toWorkspace(row) : undefined;
  }

  async listWorkspaces(): Promise<WorkspaceRecord[]> {
    const rows = await this.db.selectFrom('workspaces').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toWorkspace);
  }

  /** Renames a workspace or changes its tier; every node drops the cached keys of it. */
  async updateWorkspace(id: string, changes: { name?: string | undefined; tier?: string | undefined }): Promise<WorkspaceRecord> {
    return this.db.transaction().execute(async (transaction) => {
      const version = await this.bump(transaction);
      const row = await transaction
        .updateTable('workspaces')
        .set({ ...(changes.name ? { name: changes.name } : {}), ...(changes.tier ? { tier: changes.tier } : {}), updated_at: Date.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound('workspace', id);
      await transaction.updateTable('api_keys').set({ version }).where('workspace_id', '=', id).execute();
      return toWorkspace(row);
    });
  }

  /** The workspace keys go to when none is named: `ws_default`, or `ws_sandbox` for test keys. */
  async defaultWorkspace(sandboxed: boolean): Promise<WorkspaceRecord> {
    const id = sandboxed ? SANDBOX_WORKSPACE_ID : DEFAULT_WORKSPACE_ID;
    const found = await this.getWorkspace(id);
    if (found) return found;
    const now = Date.now();
    await this.db
      .insertInto('workspaces')
      .values({ id, name: sandboxed ? 'Sandbox' : 'Default', tier: this.defaultTier, sandboxed: sandboxed ? 1 : 0, created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
    return (await this.getWorkspace(id))!;
  }

  // ── keys ─────────────────────────────────────────────────────────────────

  async createKey(input: CreateKeyInput): Promise<CreatedKey> {
    // What the admin API and the CLI check first, held here too: no caller stores an expiry no date can show.
    if (input.expiresAt != null && !(input.expiresAt <= LATEST_TIME_MS)) {
      throw new ValidationError(`Invalid value for 'expires_at': a key expires at ${LATEST_TIME_TEXT} at the latest.`, 'expires_at');
    }
    const workspace = input.workspaceId ? await this.getWorkspace(input.workspaceId) : await this.defaultWorkspace(input.test === true);
    if (!workspace) throw notFound('workspace', input.workspaceId!, 'workspace_id');
    const test = input.test ?? workspace.sandboxed;
    if (test !== workspace.sandboxed) {
      throw new SwitchyardError(
        'invalid_value',
        test
          ? `sk_test_ keys belong to a sandboxed workspace; '${workspace.id}' is not one.`
          : `'${workspace.id}' is a sandboxed workspace: its keys are sk_test_ keys.`,
        { param: 'workspace_id' },
      );
    }
    const secret = newSecret(test ? 'test' : 'live');
    const key = await this.db.transaction().execute(async (transaction) => {
      const version = await this.bump(transaction);
      const id = randomId('key_', 16);
      const row: ApiKeyTable = {
        id,
        workspace_id: workspace.id,
        name: input.name ?? '',
        prefix: visiblePrefix(secret),
        secret_hash: this.hasher.digest(secret),
        allowed_models: input.allowedModels ? JSON.stringify(input.allowedModels) : null,
        limits: input.limits ? JSON.stringify(input.limits) : null,
        expires_at: input.expiresAt ?? null,
        created_at: Date.now(),
        last_used_at: null,
        revoked_at: null,
        rotated_from: null,
        rotated_to: null,
        lineage_id: id,
        version,
      };
      await transaction.insertInto('api_keys').values(row).execute();
      return toKey(row);
    });
    return { key, secret };
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toKey(row) : undefined;
  }

  async listKeys(filter: { workspaceId?: string | undefined } = {}): Promise<KeyRecord[]> {
    let query = this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id');
    if (filter.workspaceId) query = query.where('workspace_id', '=', filter.workspaceId);
    return (await query.execute()).map(toKey);
  }

  /**
   * A new secret for a key: a new key row (same workspace, name, models, limits, expiry) that names
   * the old one in `rotated_from`; the old secret keeps working until `now + graceSeconds`.
   */
  async rotateKey(id: string, graceSeconds: number): Promise<CreatedKey & { previous: KeyRecord }> {
    // Checked before anything is written: a rotation that commits must be able to hand back its secret.
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_SECONDS) {
      throw new ValidationError(
        `Invalid value for 'grace_seconds': ${graceSeconds}. A grace is a whole number of seconds from 0 to ${MAX_ROTATION_GRACE_SECONDS} (30 days).`,
        'grace_seconds',
      );
    }
    return this.db.transaction().execute(async (transaction) => {
      const old = await transaction.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      if (!old) throw notFound('API key', id);
      const now = Date.now();
      if (old.revoked_at !== null || (old.expires_at !== null && old.expires_at <= now) || old.rotated_to !== null) {
        throw new SwitchyardError('invalid_value', `API key '${id}' is ${old.rotated_to ? 'already rotated' : 'no longer active'}; rotate its successor or create a new key.`, { param: 'id' });
      }
      const version = await this.bump(transaction);
      const secret = newSecret(old.prefix.startsWith('sk_test_') ? 'test' : 'live');
      const row: ApiKeyTable = {
        ...old,
        id: randomId('key_', 16),
        prefix: visiblePrefix(secret),
        secret_hash: this.hasher.digest(secret),
        created_at: now,
        last_used_at: null,
        rotated_from: old.id,
        rotated_to: null,
        lineage_id: old.lineage_id ?? old.id,
        version,
      };
      await transaction.insertInto('api_keys').values(row).execute();
      const graceEnd = now + graceSeconds * 1000;
      const previous = await transaction
        .updateTable('api_keys')
        .set({ rotated_to: row.id, expires_at: old.expires_at === null ? graceEnd : Math.min(old.expires_at, graceEnd), version })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { key: toKey(row), secret, previous: toKey(previous) };
    });
  }

  /**
   * Revokes at once: every node drops the key within its poll interval. The keys it was rotated
   * from go with it: a predecessor's secret still in its grace is the same key, and revoking it
   * must not leave the old secret working for the rest of the grace.
   */
  async revokeKey(id: string): Promise<KeyRecord> {
    return this.db.transaction().execute(async (transaction) => {
      const version = await this.bump(transaction);
      const now = Date.now();
      const row = await transaction
        .updateTable('api_keys')
        .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(now)), version }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound('API key', id);
      // Back along the chain: each predecessor not yet revoked nor expired is revoked, with the
      // same version so every node drops it with the key. A predecessor can outlive its successor
      // (a long grace, then a rotation with none), so the walk goes to the chain's start.
      const seen = new Set([row.id]);
      let previous = row.rotated_from;
      while (previous !== null && !seen.has(previous)) {
        seen.add(previous);
        const predecessor = await transaction.selectFrom('api_keys').select(['rotated_from', 'revoked_at', 'expires_at']).where('id', '=', previous).executeTakeFirst();
        if (!predecessor) break;
        if (predecessor.revoked_at === null && (predecessor.expires_at === null || predecessor.expires_at > now)) {
          await transaction.updateTable('api_keys').set({ revoked_at: now, version }).where('id', '=', previous).execute();
        }
        previous = predecessor.rotated_from;
      }
      return toKey(row);
    });
  }

  /** The key a secret's digest belongs to, whatever its state (the caller judges expiry and revocation). */
  async findKeyByDigest(digest: string): Promise<KeyIdentity | undefined> {
    const key = await this.db.selectFrom('api_keys').selectAll().where('secret_hash', '=', digest).executeTakeFirst();
    if (!key) return undefined;
    const workspace = await this.db.selectFrom('workspaces').selectAll().where('id', '=', key.workspace_id).executeTakeFirst();
    if (!workspace) return undefined;
    return { key: toKey(key), workspace: toWorkspace(workspace) };
  }

  /** Records when keys were last used; no version bump (nothing a node caches changes). */
  async touchKeys(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    for (const [id, at] of lastUsed) {
      await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
    }
  }
}

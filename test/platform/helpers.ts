import { createConnection } from 'node:net';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { Platform } from '../../src/platform/platform.js';

const require = createRequire(import.meta.url);

export const PG_HOST = '127.0.0.1';
export const REDIS_URL = 'redis://127.0.0.1:6379';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

interface PgPool {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
const pg = () => require('pg') as { Pool: new (options: { connectionString: string }) => PgPool };

let adminUrl: string | undefined | null;
/** A PostgreSQL URL whose user can create databases, or undefined (printed once) when there is none. */
export async function postgresAdminUrl(): Promise<string | undefined> {
  if (adminUrl !== undefined) return adminUrl ?? undefined;
  adminUrl = null;
  if (await reachable(5432)) {
    for (const user of ['postgres', 'root']) {
      const url = `postgres://${user}@${PG_HOST}:5432/test`;
      const pool = new (pg().Pool)({ connectionString: url });
      try {
        await pool.query('select 1');
        adminUrl = url;
        break;
      } catch {
        // try the next user
      } finally {
        await pool.end();
      }
    }
  }
  if (!adminUrl) console.log('# NOTICE: PostgreSQL is not reachable on 127.0.0.1:5432 (users postgres/root, database test): its tests are skipped');
  return adminUrl ?? undefined;
}

let redisChecked: boolean | undefined;
export async function redisAvailable(): Promise<boolean> {
  if (redisChecked === undefined) {
    redisChecked = await reachable(6379);
    if (!redisChecked) console.log('# NOTICE: Redis is not reachable on 127.0.0.1:6379: its tests are skipped');
  }
  return redisChecked;
}

/** A fresh PostgreSQL database for one test; `drop()` removes it. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = await postgresAdminUrl();
  if (!admin) throw new Error('PostgreSQL not available');
  const name = `switchyard_test_${randomBytes(6).toString('hex')}`;
  const pool = new (pg().Pool)({ connectionString: admin });
  await pool.query(`create database ${name}`);
  await pool.end();
  const url = admin.replace(/\/test$/, `/${name}`);
  return {
    url,
    async drop() {
      const cleanup = new (pg().Pool)({ connectionString: admin });
      await cleanup.query(`drop database if exists ${name} with (force)`).catch(() => {});
      await cleanup.end();
    },
  };
}

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'switchyard-platform-'));
}

export const ADMIN_KEY = 'sk_admin_test_admin_key_for_the_platform_tests_0123456789';
export const SECRET = 'switchyard-test-secret-0123456789';

export interface PlatformServer extends RunningServer {
  platform: Platform;
  admin(method: string, route: string, body?: unknown, key?: string): Promise<{ status: number; body: any; headers: Headers }>;
  log: string[];
}

export interface PlatformServerOptions {
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
  redisKeyPrefix?: string;
  onQuery?: (sql: string) => void;
  logLevel?: 'info' | 'debug' | 'trace';
}

/** A real server with the platform on, on a free loopback port, its log captured. */
export async function startPlatformServer(config: ConfigInput = {}, options: PlatformServerOptions = {}): Promise<PlatformServer> {
  const env = { SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_SECRET: SECRET };
  const full: ConfigInput = {
    ...config,
    store: { dataDir: options.dataDir ?? tempDir(), ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}), ...config.store },
    limits: { ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}), ...config.limits },
    usage: { flushIntervalMs: 100, ...config.usage },
    server: { logLevel: options.logLevel ?? 'info', ...config.server },
  };
  const platform = await Platform.open({
    config: parseConfig(full, 'test config', {}),
    env,
    ...(options.redisKeyPrefix ? { redisKeyPrefix: options.redisKeyPrefix } : {}),
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const log: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, callback) {
      log.push(String(chunk));
      callback();
    },
  });
  const server = await startServer(full, { platform, logStream, env });
  return {
    ...server,
    platform,
    log,
    async admin(method, route, body, key = ADMIN_KEY) {
      const response = await fetch(`${server.origin}/admin/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: await response.json(), headers: response.headers };
    },
  };
}

/** Polls until `check` holds or the time is up. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<boolean> {
  // The monotonic clock: a wall clock stepped by NTP mid-test (seen on CI machines) must not end the wait early.
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, type PostgresPool, type SqliteDatabase } from 'kysely';
import type { Database } from './tables.js';
import type { SqliteConnection } from './sqlite-usage-writer.js';

export type Dialect = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where it is, for messages: the SQLite file, or the PostgreSQL URL without its password. */
  location: string;
  /** The better-sqlite3 connection under `db`, for SQLite. */
  sqlite?: SqliteConnection;
}

export interface OpenDatabaseOptions {
  /** `postgres://…`: PostgreSQL; otherwise SQLite in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** Called with each query's SQL (tests count what the hot path reads). */
  onQuery?: (sql: string) => void;
}

// Both drivers are CommonJS and ship no types of their own; only what Kysely needs is typed here.
const require = createRequire(import.meta.url);
type BetterSqlite = SqliteDatabase & { pragma(source: string): unknown };
type BetterSqliteConstructor = new (file: string) => BetterSqlite;
interface PgModule {
  Pool: new (config: { connectionString: string; max?: number; types?: unknown }) => PostgresPool;
}

// pg returns int8 and numeric as strings; every such column here (times, counts, sums) fits a double.
const INT8 = 20;
const NUMERIC = 1700;
function pgTypes(pg: { types: { getTypeParser(oid: number, format?: string): unknown } }) {
  return {
    getTypeParser(oid: number, format?: string) {
      if (oid === INT8 || oid === NUMERIC) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format);
    },
  };
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export function openDatabase(options: OpenDatabaseOptions): OpenedDatabase {
  const log = options.onQuery ? (event: { query: { sql: string } }) => options.onQuery!(event.query.sql) : undefined;
  if (options.databaseUrl) {
    const pg = require('pg') as PgModule & { types: { getTypeParser(oid: number, format?: string): unknown } };
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, types: pgTypes(pg) });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...(log ? { log } : {}) });
    return { db, dialect: 'postgres', location: redactUrl(options.databaseUrl) };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const file = path.join(options.dataDir, 'switchyard.sqlite');
  const BetterSqlite3 = require('better-sqlite3') as BetterSqliteConstructor;
  const sqlite = new BetterSqlite3(file);
  // WAL: the CLI and the server can use the file at once; readers never wait for the usage writer.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }), ...(log ? { log } : {}) });
  return { db, dialect: 'sqlite', location: file, sqlite: sqlite as unknown as SqliteConnection };
}

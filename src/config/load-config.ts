import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';
import { valueAt } from '../http/validation/format-issue.js';

/** A config that cannot be used; the message names the file, the field path and the reason. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Replaces `${NAME}` (and `${NAME:-default}`) in every string of the parsed file with the environment's
 * value, so that secrets stay out of config files. A variable that is unset and has no default is an error.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, at: string[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback?: string) => {
      const found = env[name];
      // As in a shell: `${NAME:-default}` takes the default when NAME is unset or empty; `${NAME}`
      // set to the empty string is the empty string (the field's own rules judge it).
      if (found !== undefined && (found !== '' || fallback === undefined)) return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${formatPath(at)}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnv(item, env, [...at, String(index)]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, [...at, key])]),
    );
  }
  return value;
}

function formatPath(at: ReadonlyArray<PropertyKey>): string {
  if (at.length === 0) return '(top level)';
  return at
    .map((part, index) => (/^\d+$/.test(String(part)) ? `[${String(part)}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/** Validates an already-parsed config object (from a file, or built by a test). */
export function parseConfig(raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  let interpolated: unknown;
  try {
    interpolated = interpolateEnv(raw ?? {}, env);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`Invalid configuration in ${source}:\n  ${error.message}`);
    throw error;
  }
  let result = ConfigSchema.safeParse(interpolated);
  // `port: "${PORT}"` is a string once interpolated: where the schema wants a number or a boolean
  // and the text came from the environment, it is read as one (only there: a numeric API key stays text).
  for (let pass = 0; !result.success && pass < 3 && coerceInterpolated(raw, interpolated, result.error.issues); pass++) {
    result = ConfigSchema.safeParse(interpolated);
  }
  if (!result.success) {
    const lines = result.error.issues.map((issue: z.core.$ZodIssue) => {
      const shown = innermost(issue);
      return `  ${formatPath(shown.path)}: ${shown.message}`;
    });
    throw new ConfigError(`Invalid configuration in ${source}:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (!Object.hasOwn(config.tiers, config.defaultTier)) {
    const given = (raw as { defaultTier?: unknown } | null)?.defaultTier !== undefined;
    throw new ConfigError(
      `Invalid configuration in ${source}:\n  defaultTier: '${config.defaultTier}'${given ? '' : ' (the default)'} is not one of the tiers (${Object.keys(config.tiers).join(', ')})${given ? '' : '; set defaultTier to one of them'}`,
    );
  }
  return config;
}

/**
 * A union's issue says only "Invalid input"; the branch that got furthest into the value says
 * what is wrong and where (`aliases.x.strategy: Invalid option…`), its path taken from the union's.
 */
function innermost(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { path: issue.path, message: issue.message };
  const branches = issue.errors.filter((branch) => branch.length > 0);
  if (branches.length === 0) return { path: issue.path, message: issue.message };
  const best = branches.map((branch) => innermost(branch[0]!)).reduce((a, b) => (b.path.length > a.path.length ? b : a));
  return { path: [...issue.path, ...best.path], message: best.message };
}

/** Turns interpolated text into the number or boolean the schema expected; true when anything changed. */
function coerceInterpolated(raw: unknown, interpolated: unknown, issues: readonly z.core.$ZodIssue[]): boolean {
  let changed = false;
  for (const issue of typeIssues(issues)) {
    if (issue.code !== 'invalid_type' || (issue.expected !== 'number' && issue.expected !== 'boolean') || issue.path.length === 0) continue;
    const parentPath = issue.path.slice(0, -1);
    const key = issue.path.at(-1)!;
    const original = valueAt(raw, issue.path);
    const parent = valueAt(interpolated, parentPath) as Record<PropertyKey, unknown> | undefined;
    const text = parent?.[key];
    if (typeof original !== 'string' || !original.includes('${') || typeof text !== 'string') continue;
    const value = issue.expected === 'number' ? (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined) : text === 'true' ? true : text === 'false' ? false : undefined;
    if (value === undefined) continue;
    parent![key] = value;
    changed = true;
  }
  return changed;
}

/** The issues themselves and, inside unions (an alias is a list or an object), their branches' issues, with full paths. */
function typeIssues(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[] = []): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union') return issue.errors.flatMap((branch) => typeIssues(branch, path));
    return [{ ...issue, path } as z.core.$ZodIssue];
  });
}

/** Reads a YAML or JSON config file (JSON is YAML, so one parser reads both). */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`Cannot parse config file ${file}: ${(error as Error).message}`);
  }
  return parseConfig(raw, file, env);
}

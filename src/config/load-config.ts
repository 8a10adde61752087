import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';

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
      if (found !== undefined && found !== '') return found;
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
  const interpolated = interpolateEnv(raw ?? {}, env);
  const result = ConfigSchema.safeParse(interpolated);
  if (!result.success) {
    const lines = result.error.issues.map((issue: z.core.$ZodIssue) => `  ${formatPath(issue.path)}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration in ${source}:\n${lines.join('\n')}`);
  }
  return result.data;
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

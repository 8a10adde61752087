import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random id in OpenAI's style: `chatcmpl-…`, `call_…`, `req_…`. */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! % ALPHABET.length];
  return out;
}

/** Generates ids; tests pass their own to get stable output. */
export type IdGenerator = (prefix: string) => string;
export const defaultIdGenerator: IdGenerator = (prefix) => randomId(prefix);

import { randomFillSync } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

// Random bytes are drawn from the OS in blocks and handed out a few at a time: one system call per
// ~170 ids instead of one per id, on a path every request takes.
const POOL = Buffer.alloc(4096);
let offset = POOL.length;

function take(length: number): Buffer {
  if (offset + length > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const bytes = POOL.subarray(offset, offset + length);
  offset += length;
  return bytes;
}

/** A random id in OpenAI's style: `chatcmpl-…`, `call_…`, `req_…` (24 characters of base62 by default). */
export function randomId(prefix: string, length = 24): string {
  const bytes = take(length);
  let out = prefix;
  // 248 is the largest multiple of 62 below 256; only the slight bias of `% 62` above it is accepted,
  // as these ids identify, they do not authenticate (API keys use their own generator).
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! % ALPHABET.length];
  return out;
}

/** Generates ids; tests pass their own to get stable output. */
export type IdGenerator = (prefix: string) => string;
export const defaultIdGenerator: IdGenerator = (prefix) => randomId(prefix);

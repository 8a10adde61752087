import { createHmac, randomBytes } from 'node:crypto';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform base62: bytes ≥ 248 (= 4 × 62) are dropped, so no character is likelier than another. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** 43 base62 characters carry 256.03 bits; one more for margin. */
const SECRET_CHARACTERS = 44;
/** Characters of the random part kept in the visible prefix: enough to tell keys apart, far too few to guess. */
const VISIBLE_CHARACTERS = 6;

export type SecretKind = 'live' | 'test' | 'admin';

export function newSecret(kind: SecretKind): string {
  return `sk_${kind}_${randomBase62(SECRET_CHARACTERS)}`;
}

export function visiblePrefix(secret: string): string {
  const match = /^(sk_[a-z]+_)/.exec(secret);
  const head = match?.[1] ?? '';
  return secret.slice(0, head.length + VISIBLE_CHARACTERS);
}

export function secretKind(secret: string): SecretKind | undefined {
  const match = /^sk_(live|test|admin)_/.exec(secret);
  return match?.[1] as SecretKind | undefined;
}

/**
 * Keyed hashes of secrets: the store holds only these. A lookup is by digest, so its timing
 * depends on the digest, which an attacker cannot steer: nothing about a stored key leaks by timing.
 */
export class SecretHasher {
  constructor(private readonly key: Buffer) {}

  digest(secret: string): string {
    return createHmac('sha256', this.key).update(secret).digest('base64url');
  }

  /** A fingerprint of the hashing key itself, kept in the store to catch nodes hashing under different secrets. */
  fingerprint(): string {
    return this.digest('switchyard:secret-check');
  }
}

import { ConfigError } from '../config/load-config.js';
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SwitchyardError } from '../errors/errors.js';
import type { Caller } from '../gateway/gateway.js';

/**
 * Turns a request's credentials into a caller, or refuses with a 401. The platform's key store
 * implements the same interface; the routes know only this.
 */
export interface Authenticator {
  /** No keys exist: every request is let in (allowed only on loopback). */
  readonly open: boolean;
  authenticate(headers: IncomingHttpHeaders): Caller | Promise<Caller>;
}

/** The presented key: `Authorization: Bearer <key>`, or the `api-key` header (Azure-style clients). */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    return match ? match[1]!.trim() : undefined;
  }
  const apiKey = headers['api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey : undefined;
}

export function missingKeyError(): SwitchyardError {
  return new SwitchyardError(
    'invalid_api_key',
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  );
}

export function wrongKeyError(): SwitchyardError {
  return new SwitchyardError('invalid_api_key', 'Incorrect API key provided.');
}

/**
 * Keys from the config file or `SWITCHYARD_API_KEYS`. Keys are held only as HMAC digests under a
 * per-process secret and looked up by digest: the time a lookup takes depends on the digest, which
 * an attacker cannot steer, so nothing about a real key leaks through timing.
 */
export class StaticKeyAuthenticator implements Authenticator {
  private readonly secret = randomBytes(32);
  private readonly digests = new Map<string, Caller>();

  constructor(keys: readonly string[]) {
    keys.forEach((key, index) => this.digests.set(this.digest(key), { keyId: `static_${index}` }));
  }

  get open(): boolean {
    return this.digests.size === 0;
  }

  private digest(key: string): string {
    return createHmac('sha256', this.secret).update(key).digest('base64');
  }

  authenticate(headers: IncomingHttpHeaders): Caller {
    if (this.open) return { keyId: null };
    const key = presentedKey(headers);
    if (!key) throw missingKeyError();
    const caller = this.digests.get(this.digest(key));
    if (!caller) throw wrongKeyError();
    return caller;
  }
}

/** Keys from `SWITCHYARD_API_KEYS` (comma-separated). */
export function keysFromEnv(env: NodeJS.ProcessEnv): string[] {
  const keys = (env.SWITCHYARD_API_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
  // The rule `auth.keys` has: a one-letter key guards a public address no better than none.
  const short = keys.findIndex((key) => key.length < 8);
  if (short !== -1) throw new ConfigError(`SWITCHYARD_API_KEYS: key ${short + 1} is shorter than 8 characters; an API key must be at least 8.`);
  return keys;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

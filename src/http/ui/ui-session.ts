import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SecretHasher } from '../../store/key-secrets.js';

export const SESSION_COOKIE = 'switchyard_session';
/** The header the admin UI sends with every admin call made on a session cookie. */
export const CSRF_HEADER = 'x-switchyard-csrf';
const DEFAULT_TTL_SECONDS = 12 * 60 * 60;

/** The value of one cookie from a `Cookie` header, or undefined. */
export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Sessions of the admin UI, stateless: `expiry.nonce.mac`, the MAC an HMAC under the server secret,
 * so every node sharing the secret accepts the same cookie. The MAC also covers `binding` (the
 * admin keys in force), so replacing a leaked admin key ends the sessions it opened. The cookie
 * alone opens nothing: each admin call must also carry the session's CSRF token (an HMAC of the
 * cookie) in a header, which another site can neither read nor send without a CORS preflight
 * Switchyard never grants.
 */
export class UiSessions {
  constructor(
    private readonly hasher: SecretHasher,
    readonly ttlSeconds = DEFAULT_TTL_SECONDS,
    private readonly now: () => number = Date.now,
    private readonly binding: () => string = () => '',
  ) {}

  create(): { token: string; csrf: string; expiresAt: number } {
    const expiresAt = Math.floor(this.now() / 1000) + this.ttlSeconds;
    const body = `${expiresAt}.${randomBytes(18).toString('base64url')}`;
    const token = `${body}.${this.mac(body)}`;
    return { token, csrf: this.csrfFor(token), expiresAt };
  }

  csrfFor(token: string): string {
    return this.hasher.digest(`ui-csrf:${token}`);
  }

  /** Whether a session token is genuine and unexpired. */
  valid(token: string | undefined): token is string {
    if (!token) return false;
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [expiry, nonce, mac] = parts as [string, string, string];
    if (!/^\d+$/.test(expiry) || Number(expiry) * 1000 <= this.now()) return false;
    return same(mac, this.mac(`${expiry}.${nonce}`));
  }

  private mac(body: string): string {
    return this.hasher.digest(`ui-session:${this.binding()}:${body}`);
  }

  /** The request's session token when the cookie is valid, whatever the CSRF header says. */
  sessionOf(headers: IncomingHttpHeaders): string | undefined {
    const token = cookieValue(headers, SESSION_COOKIE);
    return this.valid(token) ? token : undefined;
  }

  /** Whether a request is the signed-in UI: a valid cookie and its CSRF token in the header. */
  authorizes(headers: IncomingHttpHeaders): boolean {
    const token = this.sessionOf(headers);
    const csrf = headers[CSRF_HEADER];
    return token !== undefined && typeof csrf === 'string' && same(csrf, this.csrfFor(token));
  }
}

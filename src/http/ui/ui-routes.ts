import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchyardError, ValidationError } from '../../errors/errors.js';
import type { Platform } from '../../platform/platform.js';
import type { UiAssets } from './ui-assets.js';
import { SESSION_COOKIE, type UiSessions } from './ui-session.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Everything the UI loads comes from this server; nothing may frame it. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const SignIn = z.object({ admin_key: z.string().min(1).max(500) });

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3"><title>${title}</title></head><body style="font-family:system-ui;margin:3rem"><h1>${title}</h1><p>${text}</p></body></html>`;
}

function cookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  // Secure only over HTTPS: browsers drop Secure cookies set over plain http on a LAN address.
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

/**
 * `/ui`: the admin web app's static files (hashed assets cached for a year, the page itself never),
 * and its sign-in: `POST /ui/session` with the admin key sets the session cookie and answers the
 * CSRF token that every admin call made with that cookie must carry.
 */
export function registerUiRoutes(app: FastifyInstance, options: { platform: Platform; sessions: UiSessions; assets: UiAssets }): void {
  const { platform, sessions, assets } = options;
  const dist = path.resolve(assets.distDir);

  app.post('/ui/session', async (request, reply) => {
    const parsed = SignIn.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError('Send {"admin_key": "…"}.', 'admin_key');
    if (!platform.isAdmin({ authorization: `Bearer ${parsed.data.admin_key}` })) {
      throw new SwitchyardError('invalid_api_key', 'That is not the admin key.');
    }
    const session = sessions.create();
    reply.header('set-cookie', cookie(request, session.token, sessions.ttlSeconds)).header('cache-control', 'no-store');
    return { object: 'ui.session', csrf_token: session.csrf, expires_at: session.expiresAt };
  });
  app.get('/ui/session', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const token = sessions.sessionOf(request.headers);
    if (!token) throw new SwitchyardError('invalid_api_key', 'Not signed in.');
    return { object: 'ui.session', csrf_token: sessions.csrfFor(token), expires_at: Number(token.split('.')[0]) };
  });
  app.delete('/ui/session', async (request, reply) => {
    reply.header('set-cookie', cookie(request, '', 0)).header('cache-control', 'no-store');
    return { object: 'ui.session', deleted: true };
  });

  const serveFile = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.headers(SECURITY_HEADERS);
    if (assets.unavailable) {
      const building = assets.state === 'building';
      return reply
        .code(building ? 503 : 404)
        .header('cache-control', 'no-store')
        .header('retry-after', building ? '3' : '60')
        .type('text/html; charset=utf-8')
        .send(building ? page('Building the admin UI…', 'This takes a few seconds; the page reloads by itself.') : page('Admin UI not built', 'Run <code>npm run build</code> (or <code>npm start</code>, which builds it).'));
    }
    const wanted = (request.params as { '*'?: string })['*'] ?? '';
    const file = path.resolve(dist, wanted);
    const inside = file.startsWith(dist + path.sep);
    const isAsset = wanted.startsWith('assets/');
    if (isAsset || (inside && path.extname(file) !== '')) {
      try {
        if (!inside) throw new Error('outside the build');
        const body = await readFile(file);
        return reply
          .header('cache-control', isAsset ? 'public, max-age=31536000, immutable' : 'no-cache')
          .type(TYPES[path.extname(file)] ?? 'application/octet-stream')
          .send(body);
      } catch {
        if (isAsset) return reply.code(404).header('cache-control', 'no-store').type('text/plain').send('Not found');
      }
    }
    // Every other path is the app's own page (it routes on the hash).
    const index = await readFile(path.join(dist, 'index.html'));
    return reply.header('cache-control', 'no-cache').type(TYPES['.html']!).send(index);
  };
  app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui/*', serveFile);
}

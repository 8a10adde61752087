import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { UiAssets } from '../../src/http/ui/ui-assets.js';
import { Platform } from '../../src/platform/platform.js';
import { startServer, type RunningServer } from './start-server.js';

export const UI_ADMIN_KEY = 'sk_admin_ui_tests_0123456789abcdefghijklmnopqrstuvwxyz';

export interface UiServer extends RunningServer {
  platform: Platform;
  /** An admin API call with the admin key. */
  admin(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** A real server with the platform and the admin UI, on a free loopback port, in a fresh data dir. */
export async function startUiServer(config: ConfigInput = {}, ui?: UiAssets): Promise<UiServer> {
  const env = { SWITCHYARD_ADMIN_KEY: UI_ADMIN_KEY, SWITCHYARD_SECRET: 'switchyard-ui-test-secret-0123456789' };
  const full: ConfigInput = {
    ...config,
    store: { dataDir: mkdtempSync(path.join(tmpdir(), 'switchyard-ui-')), ...config.store },
    usage: { flushIntervalMs: 100, ...config.usage },
  };
  const platform = await Platform.open({ config: parseConfig(full, 'test config', {}), env });
  const server = await startServer(full, { platform, env, ...(ui ? { ui } : {}) });
  return {
    ...server,
    platform,
    async admin(method, route, body) {
      const response = await fetch(`${server.origin}/admin/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${UI_ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

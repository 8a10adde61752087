import OpenAI from 'openai';
import { buildServer, type BuildServerOptions, type Server } from '../../src/http/build-server.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigInput } from '../../src/config/schema.js';

export interface RunningServer extends Server {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `http://127.0.0.1:<port>/v1` */
  baseURL: string;
  /** The official SDK pointed at this server, with retries off so a test sees each status once. */
  client(apiKey?: string): OpenAI;
}

/** A real Switchyard on a free loopback port, built from a config object like a user's file. */
export async function startServer(
  config: ConfigInput = {},
  options: Omit<BuildServerOptions, 'config'> = {},
): Promise<RunningServer> {
  const parsed = parseConfig({ ...config, server: { logLevel: 'silent', ...config.server } }, 'test config', {});
  const server = await buildServer({ env: {}, ...options, config: parsed });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const address = server.app.server.address();
  if (!address || typeof address !== 'object') throw new Error('server did not bind');
  const origin = `${parsed.server.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`;
  const baseURL = `${origin}/v1`;
  return {
    ...server,
    origin,
    baseURL,
    client: (apiKey = 'sk-test') => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 }),
  };
}

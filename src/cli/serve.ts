import type { Config } from '../config/schema.js';
import { buildServer } from '../http/build-server.js';
import { isLoopback } from '../http/auth.js';

export interface ServeOptions {
  config: Config;
  insecureNoAuth: boolean;
  print?: (line: string) => void;
}

/** Starts the server and prints where it listens, what it serves and how to call it. */
export async function serve(options: ServeOptions): Promise<() => Promise<void>> {
  const { config } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const server = await buildServer({ config });
  const { host, port } = config.server;

  if (server.authenticator.open && !isLoopback(host) && !options.insecureNoAuth) {
    await server.close();
    throw new Error(
      `Refusing to serve ${host} without API keys: anyone who can reach it could use every backend. ` +
        'Configure keys (auth.keys or SWITCHYARD_API_KEYS), bind to 127.0.0.1, or pass --insecure-no-auth.',
    );
  }

  await server.app.listen({ host, port });
  const address = server.app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const base = `http://${shownHost}:${actualPort}/v1`;
  const models = server.registry.list().map((model) => model.publicId);
  const example = models[0] ?? 'sandbox/echo';
  const key = server.authenticator.open ? 'any' : 'YOUR_KEY';

  print(`Switchyard listening on ${base}`);
  print(`Models: ${models.length > 0 ? models.join(', ') : '(none declared; use <provider>/<model>)'}`);
  print(
    server.authenticator.open
      ? 'Auth: open — no API keys configured, so only loopback clients can reach it.'
      : 'Auth: API key required (Authorization: Bearer <key>).',
  );
  print('Try:');
  print(
    `  curl ${base}/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" ` +
      `-d '{"model":"${example}","messages":[{"role":"user","content":"Hello!"}]}'`,
  );
  print(`  OpenAI SDKs: base URL ${base}, API key ${key === 'any' ? '"any"' : 'your key'}`);

  let closing: Promise<void> | undefined;
  const stop = () => (closing ??= server.close());
  return stop;
}

import type { Config } from '../config/schema.js';
import { buildServer } from '../http/build-server.js';
import { isLoopback, keysFromEnv, StaticKeyAuthenticator } from '../http/auth.js';
import { Platform } from '../platform/platform.js';
import { packageUiAssets } from '../http/ui/ui-assets.js';

export interface ServeOptions {
  config: Config;
  insecureNoAuth: boolean;
  print?: (line: string) => void;
}

/** Starts the server and prints where it listens, what it serves and how to call it. */
export async function serve(options: ServeOptions): Promise<() => Promise<void>> {
  const { config } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const fallback = new StaticKeyAuthenticator([...config.auth.keys, ...keysFromEnv(process.env)]);
  const platform = await Platform.open({ config, fallback });
  // Before anything can refuse to start (building the server can fail on the config): the key is
  // stored now, and this is the only time it is shown.
  if (platform.adminKeyCreated) print(`Admin key for /admin/v1 (shown once; SWITCHYARD_ADMIN_KEY also works): ${platform.adminKeyCreated}`);
  const server = await buildServer({ config, platform });
  const { host, port } = config.server;

  if (server.authenticator.open && !isLoopback(host) && !options.insecureNoAuth) {
    await server.close();
    throw new Error(
      `Refusing to serve ${host} without API keys: anyone who can reach it could use every backend. ` +
        'Create a key (`switchyard keys create`), configure keys (auth.keys or SWITCHYARD_API_KEYS), bind to 127.0.0.1, or pass --insecure-no-auth.',
    );
  }

  await server.app.listen({ host, port });
  const address = server.app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  // Bound to every interface, the address to call from this machine is loopback's.
  const wildcard = host === '0.0.0.0' || host === '::';
  const callHost = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const scheme = config.server.tls ? 'https' : 'http';
  const base = `${scheme}://${callHost}:${actualPort}/v1`;
  const models = server.registry.list().map((model) => model.publicId);
  // An alias answers even while the local model is still downloading (it falls back to the sandbox).
  const example = server.gateway.aliasNames()[0] ?? models[0];
  const key = server.authenticator.open ? 'any' : 'YOUR_KEY';

  print(`Switchyard listening on ${base}${wildcard ? ` (and every other address of this machine, port ${actualPort})` : ''}`);
  print(`Models: ${models.length > 0 ? models.join(', ') : '(none declared; use <provider>/<model>)'}`);
  print(
    !server.authenticator.open
      ? 'Auth: API key required (Authorization: Bearer <key>).'
      : isLoopback(host)
        ? 'Auth: open — no API keys yet, so only loopback clients can reach it. Create one with `switchyard keys create`.'
        : `Auth: OPEN (--insecure-no-auth) — anyone who can reach ${wildcard ? `this machine on port ${actualPort}` : host} can call it. Create a key with \`switchyard keys create\`.`,
  );
  print(`Store: ${platform.store.location}; limits: ${platform.limiter.kind === 'redis' ? 'Redis' : 'in memory'}`);
  print(`Admin UI: ${scheme}://${callHost}:${actualPort}/ui (sign in with the admin key)`);
  // A cheap freshness check; a missing or stale build is made in the background (Vite, seconds).
  void packageUiAssets().ensureBuilt(print);
  if (example) {
    print('Try:');
    print(
      `  curl ${base}/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" ` +
        `-d '{"model":"${example}","messages":[{"role":"user","content":"Hello!"}]}'`,
    );
  } else {
    print('No models are declared: add a provider to the config (see the README), or serve a file with --model.');
  }
  print(`  OpenAI SDKs: base URL ${base}, API key ${key === 'any' ? '"any"' : 'your key'}`);

  // Models marked `preload` load (and, when needed, download) after the server is up: the sandbox
  // answers meanwhile, and a model that cannot be had is one clear line, not a failed start.
  for (const provider of server.registry.allProviders()) {
    const preload = (provider as { preload?: () => Promise<void> }).preload;
    preload?.call(provider).catch((error: unknown) => {
      print(
        `Local models of '${provider.id}' are not available (${(error as Error).message}). The sandbox is served; ` +
          'add a model with `switchyard pull <hf:owner/repo/file.gguf>` or `switchyard serve --model ./file.gguf`.',
      );
    });
  }

  let closing: Promise<void> | undefined;
  const stop = () => (closing ??= server.close());
  return stop;
}

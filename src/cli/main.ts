import { doctorCommand } from './doctor/doctor-command.js';
import { Gateway } from '../gateway/gateway.js';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, ConfigError } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { providersFromConfig } from '../http/build-server.js';
import { ModelRegistry } from '../gateway/model-registry.js';
import { serve } from './serve.js';
import { PLATFORM_COMMANDS, PLATFORM_HELP, platformCommand } from './platform-commands.js';
import { pullCommand } from './pull-command.js';
import { withDefaultModel, withModelFile } from './default-model.js';

const HELP = `switchyard — a self-hosted OpenAI-compatible API server

Usage:
  switchyard serve [--config FILE] [--model FILE.gguf] [--host HOST] [--port PORT] [--tls-cert PEM --tls-key PEM] [--insecure-no-auth]
      Serve the OpenAI API (default http://127.0.0.1:8080/v1). With no config file it serves
      the sandbox models and a small local model (pulled in the background on first start),
      and runs without API keys on loopback. --model serves one GGUF file as local/<file name>.
  switchyard pull <hf:owner/repo/file.gguf | https://…> [--cache-dir DIR] [--json]
      Download a GGUF model into the cache (~/.cache/switchyard/models), with progress; resumable.
  switchyard models [--config FILE] [--json]
      List the models the config serves.
  switchyard doctor <base-url> [--key KEY] [--model MODEL] [--embedding-model MODEL] [--json]
      Probe any OpenAI-compatible endpoint (an upstream to add, or Switchyard itself) and print what
      works: chat, streaming, include_usage, tool calls, json_schema, images, reasoning, embeddings,
      responses, error shapes. --key defaults to OPENAI_API_KEY; --model to the first listed.
      Exit code 0 when chat works, 1 otherwise.
${PLATFORM_HELP}  switchyard --help

Options:
  -c, --config FILE      YAML or JSON config (also SWITCHYARD_CONFIG); \${ENV_VAR} is replaced
  -m, --model FILE.gguf  serve this GGUF file with the embedded engine
      --cache-dir DIR    where pulled models are kept
      --host HOST        address to bind (default 127.0.0.1)
  -p, --port PORT        port to listen on (default 8080)
      --tls-cert FILE    serve HTTPS (and wss:// for Realtime) with this PEM certificate...
      --tls-key FILE     ...and this PEM private key (both, or neither)
      --insecure-no-auth serve a non-loopback address with no API keys
      --json             machine-readable output
  -h, --help             this help

Environment:
  SWITCHYARD_API_KEYS    comma-separated API keys accepted on /v1
  SWITCHYARD_CONFIG      config file, when --config is not given
  DATABASE_URL           PostgreSQL for keys and usage (default: SQLite in store.dataDir, ./.data)
  REDIS_URL              Redis for rate limits shared by every node (default: in memory)
  SWITCHYARD_SECRET      the key API keys are hashed under (default: a random one in the data dir)
  SWITCHYARD_ADMIN_KEY   an admin key for /admin/v1 (default: one is made and printed at first start)
  SWITCHYARD_NO_DEFAULT_MODEL=1   do not pull or serve the default local model
`;

async function readConfig(file: string | undefined): Promise<Config> {
  const path = file ?? process.env.SWITCHYARD_CONFIG;
  return path ? loadConfigFile(path) : parseConfig({}, 'defaults');
}

export async function main(argv: string[]): Promise<void> {
  // `switchyard models | head`: a reader that stops early is the end of the output, not a crash. A
  // server whose log reader went away keeps serving (exiting would skip the shutdown's usage flush).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (argv[0] !== 'serve') process.exit(process.exitCode ?? 0);
  });
  if (PLATFORM_COMMANDS.has(argv[0] ?? '')) {
    try {
      process.exitCode = await platformCommand(argv);
    } catch (error) {
      process.stderr.write(`${error instanceof ConfigError ? '' : 'Error: '}${(error as Error).message}\n`);
      process.exitCode = error instanceof ConfigError ? 1 : 2;
    }
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        model: { type: 'string', short: 'm' },
        'cache-dir': { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'tls-cert': { type: 'string' },
        key: { type: 'string' },
        'embedding-model': { type: 'string' },
        'tls-key': { type: 'string' },
        'insecure-no-auth': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === 'help' || command === undefined) {
    process.stdout.write(HELP);
    return;
  }

  try {
    if (command === 'pull') {
      if (!positionals[1]) {
        process.stderr.write('usage: switchyard pull <hf:owner/repo/file.gguf | https://…/file.gguf> [--cache-dir DIR]\n');
        process.exitCode = 2;
        return;
      }
      await pullCommand(positionals[1], values['cache-dir'], values.json);
      return;
    }
    if (command === 'doctor') {
      process.exitCode = await doctorCommand(positionals[1], { key: values.key, model: values.model, 'embedding-model': values['embedding-model'], json: values.json });
      return;
    }
    const explicit = values.config ?? process.env.SWITCHYARD_CONFIG;
    let config = await readConfig(values.config);
    if (values.model) config = withModelFile(config, values.model);
    // `models` lists what `serve` would serve, the default local model included.
    else if (!explicit && (command === 'serve' || command === 'models') && process.env.SWITCHYARD_NO_DEFAULT_MODEL !== '1') config = withDefaultModel(config);
    if (values.host) config.server.host = values.host;
    if (values.port) {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError(`--port: not a port number: ${values.port}`);
      config.server.port = port;
    }
    if (values['tls-cert'] || values['tls-key']) {
      if (!values['tls-cert'] || !values['tls-key']) throw new ConfigError('--tls-cert and --tls-key go together: give both.');
      config.server.tls = { cert: values['tls-cert'], key: values['tls-key'] };
    }

    if (command === 'serve') {
      const stop = await serve({ config, insecureNoAuth: values['insecure-no-auth'] });
      const shutdown = (signal: string) => {
        process.stdout.write(`${signal}: shutting down\n`);
        void stop().then(() => process.exit(0));
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      return;
    }
    if (command === 'models') {
      const providers = providersFromConfig(config);
      const registry = new ModelRegistry(providers);
      // As /v1/models lists them: aliases, then personas (the config's seeds; the store's are in /v1/models), then provider models.
      const entries = [
        ...new Gateway({ registry, aliases: config.aliases }).aliasNames().map((id) => ({ id, owned_by: 'switchyard', max_output_tokens: null })),
        ...config.personas.map((persona) => ({ id: `persona://${persona.id}`, owned_by: 'switchyard', max_output_tokens: null })),
        ...registry.list().map((m) => ({ id: m.publicId, owned_by: m.info.ownedBy, max_output_tokens: m.info.maxOutputTokens ?? null })),
      ];
      if (values.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      } else {
        for (const entry of entries) process.stdout.write(`${entry.id}\t${entry.owned_by}\n`);
      }
      await Promise.all(providers.map((provider) => provider.close?.()));
      return;
    }
    process.stderr.write(`Unknown command: ${command}\n\n${HELP}`);
    process.exitCode = 2;
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? '' : 'Error: '}${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

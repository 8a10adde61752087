import path from 'node:path';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/load-config.js';
import { LlamaProviderSchema } from '../providers/llama/llama-config.js';

/**
 * The model `npm start` serves with no config: a small, current instruct model that calls tools and
 * reasons (Qwen3 1.7B, Q4_K_M, about 1.1 GB), pulled in the background on first start.
 */
export const DEFAULT_LOCAL_MODEL = {
  id: 'qwen3-1.7b',
  uri: 'hf:unsloth/Qwen3-1.7B-GGUF/Qwen3-1.7B-Q4_K_M.gguf',
};

function addLocalModel(config: Config, model: Record<string, unknown>): Config {
  if (config.providers.some((provider) => provider.id === 'local')) return config;
  const provider = LlamaProviderSchema.parse({ id: 'local', kind: 'llama', models: [model] });
  return { ...config, providers: [...config.providers, provider] };
}

/** Zero-config: the sandbox plus the default local model, loaded (and pulled) in the background. */
export function withDefaultModel(config: Config): Config {
  return addLocalModel(config, { ...DEFAULT_LOCAL_MODEL, preload: true });
}

/**
 * `serve --model ./file.gguf`: that one file, as `local/<file name>`, loaded at start; added to the
 * config's own `local` engine provider when it has one. Never dropped silently: a `local` provider
 * of another kind, or a model of that name already there, is an error at start.
 */
export function withModelFile(config: Config, file: string): Config {
  const model = { id: path.basename(file), file, preload: true };
  const existing = config.providers.find((provider) => provider.id === 'local');
  if (!existing) return addLocalModel(config, model);
  if (existing.kind !== 'llama') {
    throw new ConfigError(`--model ${file}: the config's provider 'local' is of kind '${existing.kind}'; --model serves its file as local/${model.id} on the embedded engine. Rename that provider.`);
  }
  if (existing.models.some((declared) => declared.id === model.id)) {
    throw new ConfigError(`--model ${file}: the config's provider 'local' already declares a model '${model.id}'.`);
  }
  const provider = LlamaProviderSchema.parse({ ...existing, models: [...existing.models, model] });
  return { ...config, providers: config.providers.map((candidate) => (candidate === existing ? provider : candidate)) };
}

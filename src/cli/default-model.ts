import path from 'node:path';
import type { Config } from '../config/schema.js';
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

/** `serve --model ./file.gguf`: that one file, as `local/<file name>`, loaded at start. */
export function withModelFile(config: Config, file: string): Config {
  return addLocalModel(config, { id: path.basename(file), file, preload: true });
}

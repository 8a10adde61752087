import type { ProviderConfig } from '../config/schema.js';
import type { Provider } from './provider.js';
import { SandboxProvider } from './sandbox/sandbox-provider.js';
import { OpenAICompatibleProvider } from './openai-compatible/openai-compatible-provider.js';
import { LlamaProvider } from './llama/llama-provider.js';
import { AnthropicProvider } from './anthropic/anthropic-provider.js';

/** Every backend kind and how to build it: adding a kind is one file plus one line here. */
const FACTORIES: { [K in ProviderConfig['kind']]: (config: Extract<ProviderConfig, { kind: K }>) => Provider } = {
  sandbox: (config) => new SandboxProvider(config),
  'openai-compatible': (config) => new OpenAICompatibleProvider(config),
  llama: (config) => new LlamaProvider(config),
  anthropic: (config) => new AnthropicProvider(config),
};

export function createProvider(config: ProviderConfig): Provider {
  const factory = FACTORIES[config.kind] as (config: ProviderConfig) => Provider;
  return factory(config);
}

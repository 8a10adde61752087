import type { ModelInfo, Provider } from '../providers/provider.js';

/** A model name resolved to the provider that serves it and the name that provider knows it by. */
export interface ResolvedModel {
  provider: Provider;
  /** The backend's own name for the model. */
  model: string;
  /** `<provider>/<model>`: how Switchyard names it publicly. */
  publicId: string;
  /** Declared limits, when the provider declares the model. */
  info: ModelInfo | undefined;
}

/**
 * Model names → providers, built once at start into Maps so that resolving is a lookup or two.
 * Order: a declared `provider/model`, a declared bare name, then `provider/anything` for providers
 * whose upstream decides what exists. Names may themselves hold slashes (`org/model`).
 */
export class ModelRegistry {
  private readonly byPublicId = new Map<string, ResolvedModel>();
  private readonly byBareName = new Map<string, ResolvedModel>();
  private readonly providers = new Map<string, Provider>();

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) {
      if (this.providers.has(provider.id)) throw new Error(`Two providers share the id '${provider.id}'.`);
      this.providers.set(provider.id, provider);
      for (const info of provider.listModels()) {
        const resolved: ResolvedModel = { provider, model: info.id, publicId: `${provider.id}/${info.id}`, info };
        this.byPublicId.set(resolved.publicId, resolved);
        // The first provider to declare a bare name owns it.
        if (!this.byBareName.has(info.id)) this.byBareName.set(info.id, resolved);
      }
    }
  }

  resolve(name: string): ResolvedModel | undefined {
    const found = this.byPublicId.get(name) ?? this.byBareName.get(name);
    if (found) return found;
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1) return undefined;
    const provider = this.providers.get(name.slice(0, slash));
    if (!provider?.acceptsUndeclaredModels) return undefined;
    const model = name.slice(slash + 1);
    return { provider, model, publicId: name, info: undefined };
  }

  /**
   * For sandboxed callers (`sk_test_` keys): a sandbox model asked by name, else the sandbox's
   * `echo` model; undefined when no sandbox provider is configured.
   */
  resolveSandboxed(name: string): ResolvedModel | undefined {
    const found = this.resolve(name);
    if (found?.provider.kind === 'sandbox') return found;
    const sandbox = [...this.providers.values()].find((provider) => provider.kind === 'sandbox');
    if (!sandbox) return undefined;
    return this.byPublicId.get(`${sandbox.id}/echo`) ?? this.list().find((model) => model.provider === sandbox);
  }

  /** Every declared model, under its public id. */
  list(): Array<ResolvedModel & { info: ModelInfo }> {
    return [...this.byPublicId.values()] as Array<ResolvedModel & { info: ModelInfo }>;
  }

  allProviders(): Provider[] {
    return [...this.providers.values()];
  }
}

import type { AliasConfig } from '../config/routing-schema.js';
import { SwitchyardError } from '../errors/errors.js';
import type { Caller } from './gateway.js';
import type { ModelRegistry, ResolvedModel } from './model-registry.js';

export interface PlannedTarget {
  resolved: ResolvedModel;
  weight: number;
  timeoutMs: number | undefined;
  firstChunkTimeoutMs: number | undefined;
}

/** Where one call may go, in the order to try. */
export interface RoutePlan {
  /** The layers the name went through, e.g. `['alias:fast']`; empty for a direct model. */
  layers: string[];
  targets: PlannedTarget[];
  retries: number;
}

/** An alias as configured, its targets resolved. */
export interface AliasRoute {
  targets: PlannedTarget[];
  strategy: 'fallback' | 'weighted';
  retries: number;
}

/** The current small / medium / large models of the hosted providers, for the default aliases. */
const HOSTED_DEFAULTS: Record<string, [string, string, string]> = {
  openai: ['gpt-5-nano', 'gpt-5-mini', 'gpt-5'],
  anthropic: ['claude-haiku-4-5', 'claude-sonnet-4-5', 'claude-opus-4-1'],
};

/**
 * `fast`, `balanced` and `smart` when the config does not define them: the hosted providers' own
 * models when one is configured, else the first local engine model, else the sandbox.
 */
export function defaultAliases(registry: ModelRegistry): Record<string, AliasConfig> {
  const providers = registry.allProviders();
  const sandbox = providers.find((provider) => provider.kind === 'sandbox');
  const alias = (models: [string, string, string], fallback?: string): Record<string, AliasConfig> => {
    const targets = (model: string) => [{ model, weight: 1 }, ...(fallback ? [{ model: fallback, weight: 1 }] : [])];
    return {
      fast: { targets: targets(models[0]), strategy: 'fallback', retries: 0 },
      balanced: { targets: targets(models[1]), strategy: 'fallback', retries: 0 },
      smart: { targets: targets(models[2]), strategy: 'fallback', retries: 0 },
    };
  };
  for (const [kind, models] of Object.entries(HOSTED_DEFAULTS)) {
    const provider = providers.find((candidate) => candidate.id === kind || candidate.kind === kind);
    if (provider) return alias(models.map((model) => `${provider.id}/${model}`) as [string, string, string]);
  }
  const local = providers.find((provider) => provider.kind === 'llama' && provider.listModels().length > 0);
  if (local) {
    const id = `${local.id}/${local.listModels()[0]!.id}`;
    // A local model may still be downloading, or be unobtainable offline: the sandbox answers then,
    // and `x-switchyard-route` says so.
    return alias([id, id, id], sandbox ? `${sandbox.id}/echo` : undefined);
  }
  if (sandbox) return alias([`${sandbox.id}/echo`, `${sandbox.id}/echo`, `${sandbox.id}/lorem`]);
  return {};
}

/**
 * Names → route plans: an alias → its targets (ordered, or weighted for the first pick); any other
 * name → the one model it resolves to. Alias targets are resolved once, at start: a target that
 * names no model is a configuration error, not a failure at the first request.
 */
export class RoutePlanner {
  private readonly aliases = new Map<string, AliasRoute>();

  constructor(
    private readonly registry: ModelRegistry,
    aliases: Record<string, AliasConfig>,
    private readonly random: () => number = Math.random,
  ) {
    for (const [name, config] of Object.entries(aliases)) {
      const targets = config.targets.map((target) => {
        const resolved = registry.resolve(target.model);
        if (!resolved) throw new Error(`Alias '${name}': no provider serves the target model '${target.model}'.`);
        return {
          resolved,
          weight: target.weight,
          timeoutMs: 'timeoutMs' in target ? target.timeoutMs : undefined,
          firstChunkTimeoutMs: 'firstChunkTimeoutMs' in target ? target.firstChunkTimeoutMs : undefined,
        };
      });
      this.aliases.set(name, { targets, strategy: config.strategy, retries: config.retries });
    }
  }

  aliasNames(): string[] {
    return [...this.aliases.keys()];
  }

  aliasTargets(name: string): PlannedTarget[] | undefined {
    return this.aliases.get(name)?.targets;
  }

  /** Every alias with its targets in their configured order, for health views. */
  aliasRoutes(): Array<{ name: string } & AliasRoute> {
    return [...this.aliases].map(([name, route]) => ({ name, ...route }));
  }

  plan(name: string, caller?: Caller): RoutePlan {
    if (caller?.sandboxed) {
      const resolved = this.registry.resolveSandboxed(name);
      if (resolved) return { layers: [], targets: [direct(resolved)], retries: 0 };
    } else {
      const alias = this.aliases.get(name);
      if (alias) return { layers: [`alias:${name}`], targets: this.order(alias), retries: alias.retries };
      const resolved = this.registry.resolve(name);
      if (resolved) return { layers: [], targets: [direct(resolved)], retries: 0 };
    }
    throw new SwitchyardError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, {
      param: 'model',
    });
  }

  /** Weighted: a draw without replacement, so the first pick follows the weights and the rest stay as fallbacks. */
  private order(alias: AliasRoute): PlannedTarget[] {
    if (alias.strategy === 'fallback' || alias.targets.length === 1) return alias.targets;
    const pool = [...alias.targets];
    const ordered: PlannedTarget[] = [];
    while (pool.length > 0) {
      const total = pool.reduce((sum, target) => sum + target.weight, 0);
      let pick = this.random() * total;
      let index = 0;
      while (index < pool.length - 1 && pick >= pool[index]!.weight) pick -= pool[index++]!.weight;
      ordered.push(pool.splice(index, 1)[0]!);
    }
    return ordered;
  }
}

function direct(resolved: ResolvedModel): PlannedTarget {
  return { resolved, weight: 1, timeoutMs: undefined, firstChunkTimeoutMs: undefined };
}

import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import type { ModelRegistry } from '../model-registry.js';
import type { PersonaStore } from '../../store/persona-store.js';
import { DriftJudge } from '../drift/drift-judge.js';
import type { Embed } from '../drift/score-drift.js';
import { PersonaCatalog } from './persona-catalog.js';

/** An embedding function on a configured model, for the drift similarity rule; the model is resolved once. */
function embedWith(registry: ModelRegistry, model: string): Embed {
  const resolved = registry.resolve(model);
  if (!resolved?.provider.embed) throw new Error(`drift.embeddingModel: \`${model}\` is not a model that makes embeddings.`);
  const provider = resolved.provider;
  return async (texts) => {
    const result = await provider.embed!({ model: resolved.model, input: texts, body: { model: resolved.model, input: texts } }, { signal: AbortSignal.timeout(30_000), requestId: 'drift' });
    if (result.kind === 'vectors') return result.vectors.map((vector) => Array.from(vector));
    const body = JSON.parse(result.rawJson) as { data: Array<{ index: number; embedding: number[] }> };
    return body.data.sort((a, b) => a.index - b.index).map((item) => item.embedding);
  };
}

/** The persona catalog (on the store when there is one) with the config's seeds, and the drift judge. */
export async function openPersonas(config: Config, registry: ModelRegistry, store: PersonaStore | undefined): Promise<{ catalog: PersonaCatalog; judge: DriftJudge }> {
  const catalog = new PersonaCatalog(store);
  for (const [index, seed] of config.personas.entries()) {
    try {
      await catalog.save(seed, seed.id);
    } catch (error) {
      if (!(error instanceof z.ZodError)) throw error;
      const issue = error.issues[0]!;
      throw new Error(`personas[${index}].${issue.path.join('.')}: ${issue.message}`);
    }
  }
  const judge = new DriftJudge({
    threshold: config.drift.threshold,
    workspaceThresholds: config.drift.workspaceThresholds,
    embed: config.drift.embeddingModel ? embedWith(registry, config.drift.embeddingModel) : undefined,
  });
  return { catalog, judge };
}

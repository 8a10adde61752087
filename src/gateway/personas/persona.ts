import { z } from 'zod';

/** Parameters a persona may set for its calls; the client's value wins unless the name is locked. */
export const PERSONA_PARAMETERS = ['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'presence_penalty', 'frequency_penalty', 'seed', 'stop', 'reasoning_effort', 'top_k', 'min_p'] as const;

export const DriftRulesSchema = z.strictObject({
  /** Phrases the persona must never say (case-insensitive). */
  forbidden_phrases: z.array(z.string().min(1)).default([]),
  /** The language replies must be in: an ISO 639-1 code (`en`, `fr`, `de`, `es`, `it`, `pt`, `nl`, `ru`, `ja`, `zh`, `ko`, `ar`, `he`, `el`, `hi`, `th`). */
  required_language: z.string().regex(/^[a-z]{2}$/, 'an ISO 639-1 code such as "en"').optional(),
  /** The longest reply in characters. */
  max_length: z.number().int().positive().optional(),
  /** Least cosine similarity of a reply to the closest style example (needs `drift.embeddingModel`). */
  min_similarity: z.number().min(0).max(1).optional(),
});

export const RecoverySchema = z.strictObject({
  /** Above the drift threshold: ship as is (`off`), regenerate once with a reinforced prompt, or ask the fallback model. */
  policy: z.enum(['off', 'regenerate', 'fallback']).default('off'),
  /** An alias or a model, like `base_model`; not a persona (its own recovery would have no end). */
  fallback_model: z.string().min(1).refine((model) => !model.startsWith('persona://'), 'a fallback cannot be another persona').optional(),
});

/** A persona as the admin API takes it (and config seeds it): snake_case, as the rest of the admin API. */
export const PersonaInputSchema = z
  .strictObject({
    id: z.string().regex(/^persona_[A-Za-z0-9_-]{1,64}$/, 'must look like persona_<letters, digits, _ or ->').optional(),
    name: z.string().min(1).max(200),
    description: z.string().max(2000).default(''),
    /** An alias (`balanced`) or a model (`openai/gpt-4o-mini`); not another persona. */
    base_model: z.string().min(1).refine((model) => !model.startsWith('persona://'), 'a persona cannot be based on another persona'),
    system_prompt: z.string().min(1),
    parameters: z
      .strictObject({
        temperature: z.number().min(0).max(2),
        top_p: z.number().min(0).max(1),
        max_tokens: z.number().int().positive(),
        max_completion_tokens: z.number().int().positive(),
        presence_penalty: z.number().min(-2).max(2),
        frequency_penalty: z.number().min(-2).max(2),
        seed: z.number().int(),
        stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]),
        reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']),
        top_k: z.number().int().positive(),
        min_p: z.number().min(0).max(1),
      } satisfies Record<(typeof PERSONA_PARAMETERS)[number], z.ZodType>)
      .partial()
      .default({}),
    locked_parameters: z.array(z.enum(PERSONA_PARAMETERS)).default([]),
    style_examples: z.array(z.string().min(1)).max(50).default([]),
    drift_rules: DriftRulesSchema.default({ forbidden_phrases: [] }),
    recovery: RecoverySchema.default({ policy: 'off' }),
  })
  .refine((persona) => persona.recovery.policy !== 'fallback' || persona.recovery.fallback_model !== undefined, {
    message: 'recovery.fallback_model is required when recovery.policy is "fallback"',
    path: ['recovery', 'fallback_model'],
  });
export type PersonaInput = z.input<typeof PersonaInputSchema>;

export type Persona = z.output<typeof PersonaInputSchema> & { id: string; created_at: number; updated_at: number };

export const PERSONA_PREFIX = 'persona://';

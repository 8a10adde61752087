import type { Persona } from '../personas/persona.js';
import { detectLanguage } from './detect-language.js';

export interface DriftScore {
  /** In [0, 1]: 0 when every rule holds. */
  score: number;
  /** One line per rule broken, e.g. `forbidden phrase "as an AI"`. */
  reasons: string[];
}

/** Embeds texts for the similarity rule; absent when no embedding model is configured. */
export type Embed = (texts: string[]) => Promise<number[][]>;

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    normA += a[i]! * a[i]!;
    normB += b[i]! * b[i]!;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/**
 * How far a reply drifted from its persona. Each rule gives a violation in [0, 1] — a forbidden
 * phrase 0.5 each (capped at 1), the wrong language 1, the length over the maximum in proportion,
 * similarity short of the minimum in proportion — and they combine as independent chances:
 * score = 1 − Π(1 − v). One clear breach is enough to alert; small ones add up.
 */
export async function scoreDrift(reply: string, persona: Persona, embed: Embed | undefined, exampleVectors: () => Promise<number[][]>): Promise<DriftScore> {
  const violations: number[] = [];
  const reasons: string[] = [];
  const rules = persona.drift_rules;
  const lower = reply.toLowerCase();
  const found = rules.forbidden_phrases.filter((phrase) => lower.includes(phrase.toLowerCase()));
  if (found.length > 0) {
    violations.push(Math.min(1, 0.5 * found.length));
    reasons.push(...found.map((phrase) => `forbidden phrase "${phrase}"`));
  }
  if (rules.max_length !== undefined && reply.length > rules.max_length) {
    violations.push(Math.min(1, (reply.length - rules.max_length) / rules.max_length));
    reasons.push(`${reply.length} characters, over the maximum of ${rules.max_length}`);
  }
  if (rules.required_language !== undefined) {
    const language = detectLanguage(reply);
    if (language !== undefined && language !== rules.required_language) {
      violations.push(1);
      reasons.push(`language ${language}, not ${rules.required_language}`);
    }
  }
  if (rules.min_similarity !== undefined && embed && persona.style_examples.length > 0 && reply.trim() !== '') {
    const [vector] = await embed([reply]);
    const examples = await exampleVectors();
    const similarity = Math.max(...examples.map((example) => cosine(vector!, example)));
    if (similarity < rules.min_similarity) {
      // Cosine similarity goes down to -1: a reply pointing away from the examples is a full breach, no more.
      violations.push(Math.min(1, (rules.min_similarity - similarity) / rules.min_similarity));
      reasons.push(`similarity ${similarity.toFixed(2)} to the style examples, under ${rules.min_similarity}`);
    }
  }
  const score = 1 - violations.reduce((kept, violation) => kept * (1 - violation), 1);
  return { score: Math.round(score * 1000) / 1000, reasons };
}

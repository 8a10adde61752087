import type { Persona } from '../personas/persona.js';
import { scoreDrift, type DriftScore, type Embed } from './score-drift.js';

export interface DriftSettings {
  /** A score above this alerts (and runs the persona's recovery), per workspace or by default. */
  threshold: number;
  workspaceThresholds: Record<string, number>;
  /** Embeds texts for the similarity rule; absent when no embedding model is configured. */
  embed: Embed | undefined;
}

export interface DriftVerdict extends DriftScore {
  alert: boolean;
  threshold: number;
}

/**
 * Scores persona replies against their rules and the workspace's threshold. The style examples'
 * embeddings are made once per persona version and kept.
 */
export class DriftJudge {
  private readonly examples = new Map<string, Promise<number[][]>>();

  constructor(private readonly settings: DriftSettings) {}

  thresholdFor(workspaceId: string | undefined): number {
    return (workspaceId !== undefined ? this.settings.workspaceThresholds[workspaceId] : undefined) ?? this.settings.threshold;
  }

  /**
   * `sandboxed`: the call came from an `sk_test_` key, which reaches the sandbox only; the
   * similarity rule would send its reply to the embedding model (a paid backend, perhaps), so
   * such replies are judged by the other rules alone.
   */
  async judge(reply: string, persona: Persona, workspaceId: string | undefined, sandboxed = false): Promise<DriftVerdict> {
    const embed = sandboxed ? undefined : this.settings.embed;
    const exampleVectors = () => {
      const key = `${persona.id}@${persona.updated_at}`;
      let vectors = this.examples.get(key);
      if (!vectors) {
        vectors = embed!(persona.style_examples);
        vectors.catch(() => this.examples.delete(key));
        this.examples.set(key, vectors);
      }
      return vectors;
    };
    const score = await scoreDrift(reply, persona, embed, exampleVectors);
    const threshold = this.thresholdFor(workspaceId);
    return { ...score, alert: score.score > threshold, threshold };
  }
}

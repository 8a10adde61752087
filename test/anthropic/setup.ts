import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startFakeAnthropic, FAKE_API_KEY, type FakeAnthropic } from '../helpers/fake-anthropic-server.js';
import { startServer, type RunningServer } from '../helpers/start-server.js';

export interface AnthropicHarness {
  fake: FakeAnthropic;
  server: RunningServer;
  close(): Promise<void>;
}

/** A fake Anthropic and a real Switchyard whose `anthropic` provider points at it. */
export async function startHarness(extra: Record<string, unknown> = {}): Promise<AnthropicHarness> {
  const fake = await startFakeAnthropic();
  const server = await startServer({
    sandbox: false,
    routing: { breakerFailures: 1000 },
    providers: [
      {
        kind: 'anthropic',
        baseURL: fake.origin,
        apiKey: FAKE_API_KEY,
        models: ['claude-test', { id: 'claude-small', maxOutputTokens: 2000 }],
        ...extra,
      },
    ],
  });
  return {
    fake,
    server,
    async close() {
      server.app.server.closeAllConnections();
      await server.close();
      await fake.close();
    },
  };
}

export function contentOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

export function reasoningOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => (chunk.choices[0]?.delta as { reasoning?: string } | undefined)?.reasoning ?? '').join('');
}

export function finishReasons(chunks: readonly ChatCompletionChunk[]): string[] {
  return chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason).filter((reason): reason is NonNullable<typeof reason> => reason !== null));
}

import OpenAI from 'openai';
import { runProbes, type ProbeResult } from './probes.js';

export interface DoctorOptions {
  baseURL: string;
  key?: string | undefined;
  model?: string | undefined;
  embeddingModel?: string | undefined;
  timeoutMs?: number;
}

const MARK = { pass: '✓', fail: '✗', skip: '–' } as const;

export function renderTable(results: readonly ProbeResult[]): string {
  const nameWidth = Math.max(...results.map((result) => result.name.length), 'probe'.length);
  const lines = [`   ${'probe'.padEnd(nameWidth)}  ${'ms'.padStart(6)}  detail`];
  for (const result of results) lines.push(`${MARK[result.status]}  ${result.name.padEnd(nameWidth)}  ${String(result.ms).padStart(6)}  ${result.detail}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `switchyard doctor <base-url>`: probes an OpenAI-compatible endpoint with the official SDK and
 * says what works. Returns the results; `model` defaults to the first the endpoint lists.
 */
export async function doctor(options: DoctorOptions, onResult?: (result: ProbeResult) => void): Promise<{ model: string; results: ProbeResult[] }> {
  const key = options.key ?? 'sk-doctor-no-key';
  const common = { baseURL: options.baseURL, maxRetries: 0, timeout: options.timeoutMs ?? 30_000 };
  const client = new OpenAI({ ...common, apiKey: key });
  let model = options.model;
  if (!model) {
    const listed = await client.models.list();
    model = listed.data[0]?.id;
    if (!model) throw new Error(`${options.baseURL}/models lists no model: pass --model.`);
  }
  const results = await runProbes(
    {
      client,
      badKeyClient: new OpenAI({ ...common, apiKey: 'sk-doctor-certainly-not-a-valid-key-0000' }),
      model,
      embeddingModel: options.embeddingModel ?? model,
      keyGiven: options.key !== undefined,
    },
    onResult,
  );
  return { model, results };
}

/** The CLI: prints the table (or JSON), exit code 0 when chat works, 1 otherwise. */
export async function doctorCommand(baseURL: string | undefined, flags: { key?: string | undefined; model?: string | undefined; 'embedding-model'?: string | undefined; json: boolean }): Promise<number> {
  if (!baseURL) {
    process.stderr.write('Usage: switchyard doctor <base-url> [--key KEY] [--model MODEL] [--embedding-model MODEL] [--json]\n');
    return 2;
  }
  const key = flags.key ?? process.env.OPENAI_API_KEY ?? undefined;
  const { model, results } = await doctor({ baseURL: baseURL.replace(/\/+$/, ''), key, model: flags.model, embeddingModel: flags['embedding-model'] });
  if (flags.json) process.stdout.write(`${JSON.stringify({ base_url: baseURL, model, results }, null, 2)}\n`);
  else process.stdout.write(`${baseURL} with ${model}\n\n${renderTable(results)}`);
  return results.find((result) => result.name === 'chat')?.status === 'pass' ? 0 : 1;
}

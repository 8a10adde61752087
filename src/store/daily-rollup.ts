import type { Database, UsageRecordTable } from './tables.js';

/** One row per day, workspace, key and route ('' where there is none), summed over `records`. */
export function dailyRollup(records: readonly UsageRecordTable[]): Map<string, Database['usage_daily']> {
  const rollup = new Map<string, Database['usage_daily']>();
  for (const record of records) {
    const row = {
      day: record.day,
      workspace_id: record.workspace_id ?? '',
      key_id: record.key_id ?? '',
      model: record.route || record.model_asked,
    };
    const id = `${row.day}\u0000${row.workspace_id}\u0000${row.key_id}\u0000${row.model}`;
    let entry = rollup.get(id);
    if (!entry) {
      entry = { ...row, sandboxed: record.sandboxed, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, cached_tokens: 0, cost_usd: 0 };
      rollup.set(id, entry);
    }
    entry.requests += 1;
    if (record.status !== 'completed') entry.errors += 1;
    entry.prompt_tokens += record.prompt_tokens;
    entry.completion_tokens += record.completion_tokens;
    entry.reasoning_tokens += record.reasoning_tokens;
    entry.cached_tokens += record.cached_tokens;
    entry.cost_usd += record.cost_usd;
  }
  return rollup;
}

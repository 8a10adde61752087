import { useMemo, useState } from 'preact/hooks';
import { api, query, type ApiKey, type SeriesPoint } from '../api.js';
import { Chart, ErrorNote, PageHeader, useLoad, type ChartSeries } from '../components.js';
import { formatMs, formatNumber, formatUsd } from '../format.js';

type Period = 'hour' | 'month';

interface UsageRow {
  key_id?: string;
  model?: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

export function OverviewPage() {
  const [period, setPeriod] = useState<Period>('hour');
  const [model, setModel] = useState('');
  const [keyId, setKeyId] = useState('');
  const series = useLoad(
    () => api<{ data: SeriesPoint[] }>('GET', `/usage/series${query({ bucket: period === 'hour' ? 'minute' : 'day', model, key_id: keyId })}`),
    [period, model, keyId],
  );
  const breakdown = useLoad(
    async () => {
      const range = { from: period === 'hour' ? day(0) : day(-29) };
      const [byModel, byKey, keys] = await Promise.all([
        api<{ data: UsageRow[] }>('GET', `/usage${query({ group_by: 'model', ...range })}`),
        api<{ data: UsageRow[] }>('GET', `/usage${query({ group_by: 'key', ...range })}`),
        api<{ data: ApiKey[] }>('GET', '/keys'),
      ]);
      return { byModel: byModel.data, byKey: byKey.data, keys: keys.data };
    },
    [period],
  );
  const points = series.data?.data ?? [];
  const charts = useMemo(() => {
    const times = points.map((point) => point.start);
    const requests: ChartSeries[] = [
      { label: 'Requests', values: points.map((point) => point.requests), color: '#1f5fbf' },
      { label: 'Errors', values: points.map((point) => point.errors), color: '#b3261e', dash: [6, 4] },
    ];
    const tokens: ChartSeries[] = [
      { label: 'Prompt tokens', values: points.map((point) => point.prompt_tokens), color: '#6a3fb5' },
      { label: 'Completion tokens', values: points.map((point) => point.completion_tokens), color: '#0b7a57', dash: [6, 4] },
    ];
    const latency: ChartSeries[] = [
      { label: 'p50', values: points.map((point) => point.latency_p50_ms), color: '#1f5fbf' },
      { label: 'p95', values: points.map((point) => point.latency_p95_ms), color: '#a15c00', dash: [6, 4] },
    ];
    return { times, requests, tokens, latency };
  }, [points]);

  const totals = points.reduce(
    (sum, point) => ({ requests: sum.requests + point.requests, errors: sum.errors + point.errors, tokens: sum.tokens + point.prompt_tokens + point.completion_tokens }),
    { requests: 0, errors: 0, tokens: 0 },
  );
  const p95 = points.reduce<number | null>((max, point) => (point.latency_p95_ms === null ? max : Math.max(max ?? 0, point.latency_p95_ms)), null);
  const keyName = new Map((breakdown.data?.keys ?? []).map((key) => [key.id, key.name || key.redacted_value]));
  const span = period === 'hour' ? 'in the last hour' : 'in the last 30 days';

  return (
    <>
      <PageHeader title="Overview">
        <button
          type="button"
          class="secondary"
          onClick={() => {
            series.reload();
            breakdown.reload();
          }}
        >
          Refresh
        </button>
        <div class="segmented" role="group" aria-label="Period">
          <button type="button" aria-pressed={period === 'hour'} onClick={() => setPeriod('hour')}>
            Last hour
          </button>
          <button type="button" aria-pressed={period === 'month'} onClick={() => setPeriod('month')}>
            Last 30 days
          </button>
        </div>
      </PageHeader>
      <div class="filters">
        <label>
          Model
          <select value={model} onChange={(event) => setModel((event.currentTarget as HTMLSelectElement).value)}>
            <option value="">All models</option>
            {(breakdown.data?.byModel ?? []).map((row) => (
              <option key={row.model} value={row.model}>
                {row.model}
              </option>
            ))}
          </select>
        </label>
        <label>
          API key
          <select value={keyId} onChange={(event) => setKeyId((event.currentTarget as HTMLSelectElement).value)}>
            <option value="">All keys</option>
            {(breakdown.data?.keys ?? []).map((key) => (
              <option key={key.id} value={key.id}>
                {key.name || key.id} ({key.redacted_value})
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={series.error ?? breakdown.error} />
      <dl class="stats" aria-live="polite">
        <div>
          <dt>Requests</dt>
          <dd data-stat="requests">{formatNumber(totals.requests)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd data-stat="tokens">{formatNumber(totals.tokens)}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd data-stat="errors">{formatNumber(totals.errors)}</dd>
        </div>
        <div>
          <dt>Worst p95 latency</dt>
          <dd data-stat="p95">{formatMs(p95)}</dd>
        </div>
      </dl>
      <div class="charts">
        <Chart title={`Requests and errors per ${period === 'hour' ? 'minute' : 'day'}`} times={charts.times} series={charts.requests} unit="" summary={`${totals.requests} requests and ${totals.errors} errors ${span}`} />
        <Chart title={`Tokens per ${period === 'hour' ? 'minute' : 'day'}`} times={charts.times} series={charts.tokens} unit="" summary={`${totals.tokens} tokens ${span}`} />
        <Chart title="Latency (p50 and p95)" times={charts.times} series={charts.latency} unit=" ms" summary={`worst p95 ${formatMs(p95)} ${span}`} />
      </div>
      <div class="two-columns">
        <Breakdown title="By model" rows={breakdown.data?.byModel ?? []} name={(row) => row.model ?? '—'} />
        <Breakdown title="By API key" rows={breakdown.data?.byKey ?? []} name={(row) => (row.key_id ? keyName.get(row.key_id) ?? row.key_id : 'No key (open or admin)')} />
      </div>
      <p class="hint">{period === 'hour' ? 'Tables: today (UTC) so far.' : 'Tables: the last 30 days (UTC).'}</p>
    </>
  );
}

function Breakdown({ title, rows, name }: { title: string; rows: UsageRow[]; name: (row: UsageRow) => string }) {
  return (
    <section>
      <h2>{title}</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{title.replace('By ', '').replace(/^./, (letter) => letter.toUpperCase())}</th>
              <th scope="col" class="num">Requests</th>
              <th scope="col" class="num">Errors</th>
              <th scope="col" class="num">Tokens</th>
              <th scope="col" class="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={5} class="empty">
                  No requests yet.
                </td>
              </tr>
            ) : (
              rows.map((row, index) => (
                <tr key={index}>
                  <td>{name(row)}</td>
                  <td class="num">{formatNumber(row.requests)}</td>
                  <td class="num">{formatNumber(row.errors)}</td>
                  <td class="num">{formatNumber(row.prompt_tokens + row.completion_tokens)}</td>
                  <td class="num">{formatUsd(row.cost_usd)}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

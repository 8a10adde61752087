import { useEffect, useRef, useState } from 'preact/hooks';
import { api, query, type ApiKey, type RequestRecord } from '../api.js';
import { Badge, ErrorNote, PageHeader, statusTone, useLoad } from '../components.js';
import { formatMs, formatNumber, formatTime, formatUsd } from '../format.js';

const PAGE_SIZE = 100;

const PERIODS = [
  { label: 'Any time', seconds: 0 },
  { label: 'Last 15 minutes', seconds: 900 },
  { label: 'Last hour', seconds: 3600 },
  { label: 'Last 24 hours', seconds: 86_400 },
  { label: 'Last 7 days', seconds: 7 * 86_400 },
];

export function RequestsPage({ auditId }: { auditId: string | undefined }) {
  const [keyId, setKeyId] = useState('');
  const [model, setModel] = useState('');
  const [status, setStatus] = useState('');
  const [period, setPeriod] = useState(0);
  // Paging as the API does it: each page after the last audit id of the one before; the stack keeps
  // the cursors of the pages already seen, so "Newer" goes back without asking for a `before`.
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors.at(-1);
  const keys = useLoad(() => api<{ data: ApiKey[] }>('GET', '/keys'), []);
  const records = useLoad(
    () => api<{ data: RequestRecord[]; has_more: boolean; last_id: string | null }>('GET', `/requests${query({ key_id: keyId, model: model.trim(), status, since: period ? Math.floor(Date.now() / 1000) - period : undefined, limit: PAGE_SIZE, after })}`),
    [keyId, model, status, period, after],
  );
  const keyName = new Map((keys.data?.data ?? []).map((key) => [key.id, key.name || key.redacted_value]));
  // A new filter starts again at the newest page.
  const update = (setter: (value: string) => void) => (event: Event) => {
    setCursors([]);
    setter((event.currentTarget as HTMLInputElement | HTMLSelectElement).value);
  };
  const page = cursors.length + 1;
  const rows = records.data?.data ?? [];

  return (
    <>
      <PageHeader title="Requests">
        <button type="button" class="secondary" onClick={records.reload}>
          Refresh
        </button>
      </PageHeader>
      {auditId ? <AuditRecord auditId={auditId} keyName={keyName} /> : null}
      <form class="filters" role="search" aria-label="Filter requests" onSubmit={(event) => event.preventDefault()}>
        <label>
          API key
          <select value={keyId} onChange={update(setKeyId)}>
            <option value="">Any key</option>
            {(keys.data?.data ?? []).map((key) => (
              <option key={key.id} value={key.id}>
                {key.name || key.id} ({key.redacted_value})
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <input value={model} placeholder="e.g. sandbox/echo" onChange={update(setModel)} />
        </label>
        <label>
          Status
          <select value={status} onChange={update(setStatus)}>
            <option value="">Any status</option>
            {['completed', 'failed', 'aborted', 'rejected'].map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <label>
          Time
          <select
            value={String(period)}
            onChange={(event) => {
              setCursors([]);
              setPeriod(Number((event.currentTarget as HTMLSelectElement).value));
            }}
          >
            {PERIODS.map((entry) => (
              <option key={entry.seconds} value={String(entry.seconds)}>
                {entry.label}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={records.error} />
      <div class="table-wrap">
        <table class="requests">
          <caption class="sr-only">Request log, newest first; open a request to see its audit record</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Key</th>
              <th scope="col">Model → route</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Tokens</th>
              <th scope="col" class="num">Latency</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={6} class="empty">
                  {records.loading ? 'Loading…' : 'No requests match.'}
                </td>
              </tr>
            ) : null}
            {rows.map((record) => (
              <tr key={record.audit_id} class={record.audit_id === auditId ? 'selected' : ''} onClick={() => (location.hash = `#/requests/${record.audit_id}`)}>
                <td>
                  <a href={`#/requests/${encodeURIComponent(record.audit_id)}`} aria-label={`Open request ${record.audit_id} of ${formatTime(record.created_at)}`}>
                    {formatTime(record.created_at)}
                  </a>
                </td>
                <td>{record.key_id ? keyName.get(record.key_id) ?? record.key_id : <span class="hint">none</span>}</td>
                <td>
                  <span class="mono">{record.model}</span>
                  {record.route && record.route !== record.model ? <span class="mono hint"> → {record.route}</span> : null}
                </td>
                <td>
                  <Badge tone={statusTone(record.status)}>{record.status}</Badge>
                  {record.error_code ? <span class="hint mono"> {record.error_code}</span> : null}
                </td>
                <td class="num">{formatNumber(record.usage.total_tokens)}</td>
                <td class="num">{formatMs(record.latency_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Request log pages">
        <button type="button" class="secondary" disabled={page === 1} onClick={() => setCursors((previous) => previous.slice(0, -1))}>
          Newer
        </button>
        <span aria-live="polite" data-testid="requests-page">
          Page {page}
          {rows.length > 0 ? ` · requests ${formatNumber((page - 1) * PAGE_SIZE + 1)}–${formatNumber((page - 1) * PAGE_SIZE + rows.length)}` : ''}
        </span>
        <button
          type="button"
          class="secondary"
          disabled={!records.data?.has_more || !records.data.last_id || records.loading}
          onClick={() => {
            const last = records.data?.last_id;
            if (last) setCursors((previous) => [...previous, last]);
          }}
        >
          Older
        </button>
      </nav>
    </>
  );
}

function AuditRecord({ auditId, keyName }: { auditId: string; keyName: Map<string, string> }) {
  const record = useLoad(() => api<RequestRecord>('GET', `/requests/${encodeURIComponent(auditId)}`), [auditId]);
  const value = record.data;
  const recorded = (value as { drift?: { score: number; alert: boolean; layers: string[]; recovery: string | null } | null } | undefined)?.drift ?? undefined;
  const drift = recorded?.score;
  const layers = recorded?.layers;
  // The record opens above the log: bring it into view and move focus to it, or a row opened far
  // down the list seems to do nothing.
  const section = useRef<HTMLElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    section.current?.scrollIntoView({ block: 'start' });
    heading.current?.focus({ preventScroll: true });
  }, [auditId]);
  return (
    <section class="card audit" aria-labelledby="audit-title" ref={section}>
      <div class="audit-head">
        <h2 id="audit-title" ref={heading} tabIndex={-1}>
          Audit record
        </h2>
        <a href="#/requests" class="button secondary">
          Close
        </a>
      </div>
      <ErrorNote error={record.error} />
      {value ? (
        <dl class="details">
          <dt>Audit id</dt>
          <dd class="mono">{value.audit_id}</dd>
          <dt>Request id</dt>
          <dd class="mono">{value.request_id}</dd>
          <dt>Time</dt>
          <dd>{formatTime(value.created_at)}</dd>
          <dt>Key</dt>
          <dd>{value.key_id ? `${keyName.get(value.key_id) ?? ''} (${value.key_id})` : 'none (open or admin)'}</dd>
          <dt>Workspace</dt>
          <dd class="mono">{value.workspace_id ?? '—'}</dd>
          <dt>Model asked</dt>
          <dd class="mono">{value.model}</dd>
          <dt>Route taken</dt>
          <dd class="mono">{value.route || '—'}</dd>
          <dt>Provider</dt>
          <dd class="mono">{value.provider || '—'}</dd>
          <dt>Status</dt>
          <dd>
            <Badge tone={statusTone(value.status)}>{value.status}</Badge> {value.error_code ? <span class="mono">{value.error_code}</span> : null}
          </dd>
          <dt>Tokens</dt>
          <dd>
            {formatNumber(value.usage.prompt_tokens)} prompt ({formatNumber(value.usage.cached_tokens)} cached) + {formatNumber(value.usage.completion_tokens)} completion ({formatNumber(value.usage.reasoning_tokens)} reasoning)
          </dd>
          <dt>Cost</dt>
          <dd>{formatUsd(value.cost_usd)}</dd>
          <dt>Latency</dt>
          <dd>{formatMs(value.latency_ms)}</dd>
          <dt>Time to first token</dt>
          <dd>{formatMs(value.time_to_first_token_ms)}</dd>
          <dt>Stream</dt>
          <dd>{value.stream ? 'yes' : 'no'}</dd>
          <dt>Drift score</dt>
          <dd>
            {drift === undefined ? (
              <span class="hint">not recorded (no persona on this call)</span>
            ) : (
              <>
                {drift.toFixed(3)} {recorded?.alert ? <Badge tone="bad">alert</Badge> : null}
                {recorded?.recovery ? <span class="hint"> · recovery: {recorded.recovery}</span> : null}
              </>
            )}
          </dd>
          <dt>Layers</dt>
          <dd>{layers && layers.length > 0 ? layers.join(' → ') : <span class="hint">none</span>}</dd>
        </dl>
      ) : record.loading ? (
        <p>Loading…</p>
      ) : null}
    </section>
  );
}

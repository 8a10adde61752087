import { useState } from 'preact/hooks';
import { api, query, type Tier, type Workspace } from '../api.js';
import { Badge, ErrorNote, PageHeader, useLoad } from '../components.js';
import { formatNumber } from '../format.js';

const monthStart = () => `${new Date().toISOString().slice(0, 7)}-01`;

export function WorkspacesPage() {
  const data = useLoad(async () => {
    const [workspaces, tiers, usage] = await Promise.all([
      api<{ data: Workspace[] }>('GET', '/workspaces'),
      api<{ data: Tier[]; default_tier: string }>('GET', '/tiers'),
      api<{ data: Array<{ workspace_id: string; prompt_tokens: number; completion_tokens: number; requests: number }> }>('GET', `/usage${query({ group_by: 'workspace', from: monthStart() })}`),
    ]);
    return { workspaces: workspaces.data, tiers: tiers.data, defaultTier: tiers.default_tier, usage: usage.data };
  }, []);
  const [error, setError] = useState<Error | undefined>();
  const [name, setName] = useState('');
  const [tier, setTier] = useState('');
  const tiers = new Map((data.data?.tiers ?? []).map((entry) => [entry.name, entry]));
  const used = new Map((data.data?.usage ?? []).map((row) => [row.workspace_id, row]));

  const changeTier = async (workspace: Workspace, next: string) => {
    setError(undefined);
    try {
      await api('PATCH', `/workspaces/${workspace.id}`, { tier: next });
      data.reload();
    } catch (failure) {
      setError(failure as Error);
    }
  };

  return (
    <>
      <PageHeader title="Workspaces & tiers" />
      <ErrorNote error={error ?? data.error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Workspaces</caption>
          <thead>
            <tr>
              <th scope="col">Workspace</th>
              <th scope="col">Tier</th>
              <th scope="col">Limits</th>
              <th scope="col">Budget used this month</th>
            </tr>
          </thead>
          <tbody>
            {(data.data?.workspaces ?? []).length === 0 ? (
              <tr>
                <td colSpan={4} class="empty">
                  {data.loading ? 'Loading…' : 'No workspaces yet: the first key made without one creates the Default workspace (a test key, the Sandbox one).'}
                </td>
              </tr>
            ) : null}
            {(data.data?.workspaces ?? []).map((workspace) => {
              const limits = tiers.get(workspace.tier);
              const row = used.get(workspace.id);
              const tokens = row ? row.prompt_tokens + row.completion_tokens : 0;
              const budget = limits?.monthly_token_budget ?? null;
              const share = budget ? Math.min(1, tokens / budget) : 0;
              return (
                <tr key={workspace.id}>
                  <td>
                    <strong>{workspace.name}</strong> {workspace.sandboxed ? <Badge tone="test">sandbox</Badge> : null}
                    <div class="hint mono">{workspace.id}</div>
                  </td>
                  <td>
                    <label class="sr-only" for={`tier-${workspace.id}`}>
                      Tier of {workspace.name}
                    </label>
                    <select id={`tier-${workspace.id}`} value={workspace.tier} onChange={(event) => changeTier(workspace, (event.currentTarget as HTMLSelectElement).value)}>
                      {[...tiers.keys()].map((name) => (
                        <option key={name} value={name}>
                          {name}
                        </option>
                      ))}
                      {tiers.has(workspace.tier) ? null : <option value={workspace.tier}>{workspace.tier} (not configured)</option>}
                    </select>
                  </td>
                  <td class="limits">{limits ? <Limits tier={limits} /> : <span class="hint">no limits</span>}</td>
                  <td class="budget">
                    {budget ? (
                      <>
                        <div class={`bar ${share >= 0.9 ? 'bar-bad' : share >= 0.7 ? 'bar-warn' : ''}`} role="progressbar" aria-label={`Budget used by ${workspace.name}`} aria-valuemin={0} aria-valuemax={budget} aria-valuenow={tokens} aria-valuetext={`${formatNumber(tokens)} of ${formatNumber(budget)} tokens`}>
                          <div style={{ width: `${(share * 100).toFixed(1)}%` }} />
                        </div>
                        <div class="hint">
                          {formatNumber(tokens)} / {formatNumber(budget)} tokens ({Math.round(share * 100)}%)
                        </div>
                      </>
                    ) : (
                      <span class="hint">{formatNumber(tokens)} tokens; no monthly budget</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>

      <form
        class="card inline-form"
        aria-labelledby="create-workspace-title"
        onSubmit={async (event) => {
          event.preventDefault();
          setError(undefined);
          try {
            await api('POST', '/workspaces', { name: name.trim(), ...(tier ? { tier } : {}) });
            setName('');
            data.reload();
          } catch (failure) {
            setError(failure as Error);
          }
        }}
      >
        <h2 id="create-workspace-title">New workspace</h2>
        <label>
          Name
          <input required value={name} maxLength={200} onInput={(event) => setName((event.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          Tier
          <select value={tier} onChange={(event) => setTier((event.currentTarget as HTMLSelectElement).value)}>
            <option value="">Default ({data.data?.defaultTier ?? '…'})</option>
            {[...tiers.keys()].map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Create workspace</button>
      </form>

      <h2>Tiers</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Tier</th>
              <th scope="col" class="num">Requests/min</th>
              <th scope="col" class="num">Tokens/min</th>
              <th scope="col" class="num">Concurrent</th>
              <th scope="col" class="num">Monthly tokens</th>
              <th scope="col">Models</th>
            </tr>
          </thead>
          <tbody>
            {(data.data?.tiers ?? []).map((entry) => (
              <tr key={entry.name}>
                <td>
                  {entry.name} {entry.name === data.data?.defaultTier ? <Badge tone="muted">default</Badge> : null}
                </td>
                <td class="num">{formatNumber(entry.requests_per_minute)}</td>
                <td class="num">{formatNumber(entry.tokens_per_minute)}</td>
                <td class="num">{formatNumber(entry.concurrent_requests)}</td>
                <td class="num">{formatNumber(entry.monthly_token_budget)}</td>
                <td>{entry.allowed_models ? entry.allowed_models.join(', ') : 'all'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Limits({ tier }: { tier: Tier }) {
  const parts = [
    tier.requests_per_minute ? `${formatNumber(tier.requests_per_minute)} req/min` : null,
    tier.tokens_per_minute ? `${formatNumber(tier.tokens_per_minute)} tok/min` : null,
    tier.concurrent_requests ? `${formatNumber(tier.concurrent_requests)} concurrent` : null,
  ].filter(Boolean);
  return <span>{parts.length > 0 ? parts.join(' · ') : 'unlimited'}</span>;
}

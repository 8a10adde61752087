import { useState } from 'preact/hooks';
import { api, type ApiKey, type Workspace } from '../api.js';
import { Badge, ConfirmDialog, ErrorNote, PageHeader, SecretOnce, statusTone, useLoad } from '../components.js';
import { formatRelative, formatTime } from '../format.js';

type Shown = { kind: 'created'; key: ApiKey; value: string } | { kind: 'rotated'; key: ApiKey; value: string; previous: ApiKey };

const EXPIRIES = [
  { label: 'Never', seconds: 0 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
  { label: '90 days', seconds: 90 * 86_400 },
  { label: '1 year', seconds: 365 * 86_400 },
];

const isTest = (key: ApiKey) => key.redacted_value.startsWith('sk_test_');
/** A rotated key is still active until its grace deadline; say so. */
const shownStatus = (key: ApiKey) => (key.status === 'active' && key.rotated_to ? 'rotated' : key.status);

export function KeysPage() {
  const keys = useLoad(() => api<{ data: ApiKey[] }>('GET', '/keys'), []);
  const workspaces = useLoad(() => api<{ data: Workspace[] }>('GET', '/workspaces'), []);
  const [shown, setShown] = useState<Shown | undefined>();
  const [confirm, setConfirm] = useState<{ action: 'rotate' | 'revoke'; key: ApiKey } | undefined>();
  const [grace, setGrace] = useState('');
  const [error, setError] = useState<Error | undefined>();
  const [creating, setCreating] = useState(false);
  const workspaceName = new Map((workspaces.data?.data ?? []).map((workspace) => [workspace.id, workspace.name]));

  const act = async () => {
    if (!confirm) return;
    const { action, key } = confirm;
    setConfirm(undefined);
    setError(undefined);
    try {
      if (action === 'revoke') {
        await api('POST', `/keys/${key.id}/revoke`);
      } else {
        const body = grace.trim() === '' ? {} : { grace_seconds: Number(grace) };
        const rotated = await api<ApiKey & { value: string; previous: ApiKey }>('POST', `/keys/${key.id}/rotate`, body);
        setShown({ kind: 'rotated', key: rotated, value: rotated.value, previous: rotated.previous });
      }
      keys.reload();
    } catch (failure) {
      setError(failure as Error);
    }
  };

  return (
    <>
      <PageHeader title="API keys">
        <button type="button" onClick={() => setCreating(true)} aria-expanded={creating} aria-controls="create-key">
          Create key
        </button>
      </PageHeader>
      <ErrorNote error={error ?? keys.error} />
      {shown ? (
        <SecretOnce label={shown.kind === 'created' ? `New key "${shown.key.name}"` : `Rotated key "${shown.key.name}"`} value={shown.value} onDone={() => setShown(undefined)}>
          {shown.kind === 'rotated' ? (
            <p data-testid="grace-deadline">
              The old key ({shown.previous.redacted_value}) keeps working until <strong>{formatTime(shown.previous.expires_at)}</strong> ({formatRelative(shown.previous.expires_at)}).
            </p>
          ) : null}
        </SecretOnce>
      ) : null}
      {creating ? (
        <CreateKeyForm
          workspaces={workspaces.data?.data ?? []}
          onCancel={() => setCreating(false)}
          onCreated={(key, value) => {
            setCreating(false);
            setShown({ kind: 'created', key, value });
            keys.reload();
          }}
        />
      ) : null}
      <div class="table-wrap">
        <table class="keys">
          <caption class="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Workspace</th>
              <th scope="col">Status</th>
              <th scope="col">Models</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(keys.data?.data ?? []).length === 0 ? (
              <tr>
                <td colSpan={8} class="empty">
                  {keys.loading ? 'Loading…' : 'No keys yet: until the first one exists, the server runs open on loopback.'}
                </td>
              </tr>
            ) : null}
            {(keys.data?.data ?? []).map((key) => (
              <tr key={key.id} data-key-id={key.id}>
                <td>
                  <strong>{key.name || '(unnamed)'}</strong>
                  <div class="hint mono">{key.id}</div>
                </td>
                <td>
                  <span class="mono">{key.redacted_value}</span> {isTest(key) ? <Badge tone="test">test</Badge> : <Badge tone="live">live</Badge>}
                </td>
                <td>{workspaceName.get(key.workspace_id) ?? key.workspace_id}</td>
                <td>
                  <Badge tone={statusTone(shownStatus(key))}>{shownStatus(key)}</Badge>
                  {shownStatus(key) === 'rotated' ? <div class="hint">works until {formatTime(key.expires_at)}</div> : null}
                </td>
                <td>{key.allowed_models ? key.allowed_models.join(', ') : <span class="hint">tier's</span>}</td>
                <td title={formatTime(key.expires_at)}>{key.expires_at ? formatRelative(key.expires_at) : 'never'}</td>
                <td title={formatTime(key.last_used_at)}>{formatRelative(key.last_used_at)}</td>
                <td class="actions">
                  {key.status === 'active' ? (
                    <>
                      {key.rotated_to ? null : (
                        <button type="button" class="secondary" onClick={() => setConfirm({ action: 'rotate', key })} aria-label={`Rotate ${key.name || key.id}`}>
                          Rotate
                        </button>
                      )}
                      <button type="button" class="danger" onClick={() => setConfirm({ action: 'revoke', key })} aria-label={`Revoke ${key.name || key.id}`}>
                        Revoke
                      </button>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {confirm?.action === 'revoke' ? (
        <ConfirmDialog title={`Revoke "${confirm.key.name || confirm.key.id}"?`} confirmLabel="Revoke key" danger onConfirm={act} onCancel={() => setConfirm(undefined)}>
          <p>
            Every request with <span class="mono">{confirm.key.redacted_value}</span> is refused with 401 from now on (every node within a second). This cannot be undone.
          </p>
        </ConfirmDialog>
      ) : null}
      {confirm?.action === 'rotate' ? (
        <ConfirmDialog title={`Rotate "${confirm.key.name || confirm.key.id}"?`} confirmLabel="Rotate key" onConfirm={act} onCancel={() => setConfirm(undefined)}>
          <p>A new secret is made and shown once. The old one keeps working for a grace period, so clients can switch over.</p>
          <label for="grace">Grace period in seconds (empty: the server's default)</label>
          <input id="grace" type="number" min={0} inputMode="numeric" value={grace} onInput={(event) => setGrace((event.currentTarget as HTMLInputElement).value)} />
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function CreateKeyForm({ workspaces, onCreated, onCancel }: { workspaces: Workspace[]; onCreated: (key: ApiKey, value: string) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [workspace, setWorkspace] = useState('');
  const [test, setTest] = useState(false);
  const [models, setModels] = useState('');
  const [expiry, setExpiry] = useState(0);
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      id="create-key"
      class="card form-grid"
      aria-labelledby="create-key-title"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const allowed = models.split(',').map((model) => model.trim()).filter(Boolean);
          const created = await api<ApiKey & { value: string }>('POST', '/keys', {
            name: name.trim() || undefined,
            ...(test ? { test: true } : workspace ? { workspace_id: workspace } : {}),
            ...(allowed.length > 0 ? { allowed_models: allowed } : {}),
            ...(expiry > 0 ? { expires_in_seconds: expiry } : {}),
          });
          onCreated(created, created.value);
        } catch (failure) {
          setError(failure as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="create-key-title">Create an API key</h2>
      <label for="key-name">Name</label>
      <input id="key-name" value={name} maxLength={200} placeholder="e.g. ci, billing-service" onInput={(event) => setName((event.currentTarget as HTMLInputElement).value)} />
      <label for="key-workspace">Workspace</label>
      <select id="key-workspace" value={workspace} disabled={test} onChange={(event) => setWorkspace((event.currentTarget as HTMLSelectElement).value)}>
        <option value="">Default workspace</option>
        {workspaces
          .filter((entry) => !entry.sandboxed)
          .map((entry) => (
            <option key={entry.id} value={entry.id}>
              {entry.name} ({entry.tier})
            </option>
          ))}
      </select>
      <span />
      <label class="checkbox">
        <input type="checkbox" checked={test} onChange={(event) => setTest((event.currentTarget as HTMLInputElement).checked)} />
        <span>
          Test key (<span class="mono">sk_test_</span>: always answered by the sandbox, free)
        </span>
      </label>
      <label for="key-models">Allowed models</label>
      <input id="key-models" value={models} placeholder="empty: what the tier allows; e.g. sandbox/*, openai/gpt-4o" aria-describedby="key-models-hint" onInput={(event) => setModels((event.currentTarget as HTMLInputElement).value)} />
      <span />
      <span id="key-models-hint" class="hint">
        Comma-separated; <span class="mono">*</span> matches anything.
      </span>
      <label for="key-expiry">Expires</label>
      <select id="key-expiry" value={String(expiry)} onChange={(event) => setExpiry(Number((event.currentTarget as HTMLSelectElement).value))}>
        {EXPIRIES.map((entry) => (
          <option key={entry.seconds} value={String(entry.seconds)}>
            {entry.label}
          </option>
        ))}
      </select>
      <ErrorNote error={error} />
      <div class="form-actions">
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

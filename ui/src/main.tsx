import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { resumeSession, setSignedOutHandler, signIn, signOut } from './api.js';
import { OverviewPage } from './pages/overview.js';
import { KeysPage } from './pages/keys.js';
import { WorkspacesPage } from './pages/workspaces.js';
import { RequestsPage } from './pages/requests.js';
import { ModelsPage } from './pages/models.js';
import { PlaygroundPage } from './pages/playground.js';
import { PersonasPage } from './pages/personas.js';
import './styles.css';

const PAGES = [
  { path: 'overview', label: 'Overview' },
  { path: 'keys', label: 'API keys', group: 'Settings' },
  { path: 'workspaces', label: 'Workspaces & tiers', group: 'Settings' },
  { path: 'requests', label: 'Requests' },
  { path: 'models', label: 'Models & routes' },
  { path: 'personas', label: 'Personas' },
  { path: 'playground', label: 'Playground' },
] as const;

function currentRoute(): string[] {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return parts.length > 0 ? parts : ['overview'];
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  // The key field has the focus when the form appears (first visit, sign-out, a session that ended).
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Sign in · Switchyard admin';
    field.current?.focus();
  }, []);
  return (
    <main class="sign-in" id="main">
      <form
        class="card"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await signIn(key.trim());
            onSignedIn();
          } catch (failure) {
            setError((failure as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Switchyard admin</h1>
        <p class="hint">Sign in with the admin key (SWITCHYARD_ADMIN_KEY, or the key printed at first start).</p>
        <label for="admin-key">Admin key</label>
        <input id="admin-key" ref={field} type="password" autocomplete="current-password" required value={key} onInput={(event) => setKey((event.currentTarget as HTMLInputElement).value)} aria-describedby={error ? 'sign-in-error' : undefined} />
        {error ? (
          <p class="error" id="sign-in-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<'unknown' | 'in' | 'out'>('unknown');
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    setSignedOutHandler(() => setSession('out'));
    resumeSession().then((ok) => setSession(ok ? 'in' : 'out'));
    const onHash = () => setRoute(currentRoute());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const page = route[0]!;
  useEffect(() => {
    if (session !== 'in') return;
    const label = PAGES.find((entry) => entry.path === page)?.label ?? 'Not found';
    document.title = `${label} · Switchyard admin`;
    // Move focus to the new page's heading, so keyboard and screen-reader users land on it.
    if (session === 'in') requestAnimationFrame(() => document.getElementById('page-title')?.focus({ preventScroll: true }));
  }, [page, session]);

  if (session === 'unknown') return <p class="loading">Loading…</p>;
  if (session === 'out') return <SignIn onSignedIn={() => setSession('in')} />;

  return (
    <div class="layout">
      <a class="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById('page-title')?.focus();
      }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Switchyard</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((entry) => (
              <li key={entry.path}>
                <a href={`#/${entry.path}`} aria-current={page === entry.path ? 'page' : undefined}>
                  {'group' in entry ? <span class="nav-group">{entry.group} · </span> : null}
                  {entry.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="secondary sign-out"
          onClick={async () => {
            await signOut();
            setSession('out');
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        {page === 'overview' ? <OverviewPage /> : null}
        {page === 'keys' ? <KeysPage /> : null}
        {page === 'workspaces' ? <WorkspacesPage /> : null}
        {page === 'requests' ? <RequestsPage auditId={route[1]} /> : null}
        {page === 'models' ? <ModelsPage /> : null}
        {page === 'personas' ? <PersonasPage /> : null}
        {page === 'playground' ? <PlaygroundPage /> : null}
        {!PAGES.some((entry) => entry.path === page) ? <h1 id="page-title" tabIndex={-1}>Page not found</h1> : null}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);

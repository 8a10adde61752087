import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: src/http/ui → three levels up. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export type UiState = 'ready' | 'building' | 'stale' | 'missing' | 'failed';

function newestMtime(entry: string): number {
  let stat;
  try {
    stat = statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/**
 * The admin UI's built files (`ui/dist`) and, when the sources are at hand, the means to (re)build
 * them. The freshness check is a few dozen `stat` calls; the build (Vite) takes seconds and runs in
 * a child process, so the server starts at once and `/ui` says "building" meanwhile.
 */
export class UiAssets {
  readonly distDir: string;
  private building: Promise<boolean> | undefined;
  private failed = false;

  constructor(readonly uiDir: string = path.join(PACKAGE_ROOT, 'ui')) {
    this.distDir = path.join(uiDir, 'dist');
  }

  /** Whether the sources are here to build from (they are not in every install). */
  get hasSources(): boolean {
    return existsSync(path.join(this.uiDir, 'src')) && existsSync(path.join(this.uiDir, 'vite.config.ts'));
  }

  /** ready: built and newer than its sources; stale: built but older; missing: never built. */
  get state(): UiState {
    if (this.building) return 'building';
    const built = newestMtime(path.join(this.distDir, 'index.html'));
    if (built === 0) return this.failed ? 'failed' : 'missing';
    if (!this.hasSources) return 'ready';
    const sources = Math.max(
      newestMtime(path.join(this.uiDir, 'src')),
      newestMtime(path.join(this.uiDir, 'index.html')),
      newestMtime(path.join(this.uiDir, 'vite.config.ts')),
    );
    return sources > built ? 'stale' : 'ready';
  }

  /** True while a build runs and nothing older is there to serve. */
  get unavailable(): boolean {
    return !existsSync(path.join(this.distDir, 'index.html'));
  }

  /** Builds when the build is missing or older than the sources; resolves to whether a usable build exists. */
  ensureBuilt(print: (line: string) => void = () => {}): Promise<boolean> {
    const state = this.state;
    if (state === 'ready') return Promise.resolve(true);
    if (this.building) return this.building;
    if (!this.hasSources) {
      print('Admin UI: no build in ui/dist and no sources to build it from; /ui is not served.');
      return Promise.resolve(false);
    }
    print(`Admin UI: ${state === 'stale' ? 'sources changed, rebuilding' : 'building'} in the background (Vite, a few seconds); /ui answers when done.`);
    const started = Date.now();
    this.building = this.build().then(
      () => {
        this.failed = false;
        print(`Admin UI: built in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
        return true;
      },
      (error: Error) => {
        this.failed = true;
        print(`Admin UI: the build failed (${error.message}); run \`npm run build\` to see why.`);
        return !this.unavailable;
      },
    );
    void this.building.finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  private build(): Promise<void> {
    return new Promise((resolve, reject) => {
      let vite: string;
      try {
        const require = createRequire(path.join(PACKAGE_ROOT, 'package.json'));
        vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
      } catch {
        reject(new Error('vite is not installed'));
        return;
      }
      const child = spawn(process.execPath, [vite, 'build', '--config', path.join(this.uiDir, 'vite.config.ts'), '--logLevel', 'error'], {
        cwd: this.uiDir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let errors = '';
      child.stderr.on('data', (chunk: Buffer) => {
        errors = (errors + chunk.toString()).slice(-2000);
      });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(errors.trim().split('\n').slice(-3).join(' ') || `vite exited with ${code}`))));
    });
  }
}

let packageUi: UiAssets | undefined;
/** The package's own `ui/`. */
export function packageUiAssets(): UiAssets {
  return (packageUi ??= new UiAssets());
}

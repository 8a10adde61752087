// Starting, watching and stopping the processes a benchmark run needs. Each server under test runs
// in its own process so that its CPU time can be read from /proc apart from the load generator's.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root, whatever the current directory: paths below are relative to it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_TS = path.join(PROJECT_ROOT, 'bin/run-ts.mjs');
/** How much of a child's output is kept, to explain why it failed. */
const TAIL_CHARS = 4_000;

const live = new Set<ChildService>();

// Last resort: whatever way the benchmark ends, it takes its children with it.
process.once('exit', () => {
  for (const service of live) service.child.kill('SIGKILL');
});

export class ChildService {
  private output = '';
  private exitInfo: string | undefined;
  readonly exited: Promise<string>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(this);
    // Output is drained always — a full pipe would stall the child — and only its tail kept.
    const keep = (data: Buffer) => {
      this.output = (this.output + data.toString('utf8')).slice(-TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(this);
        this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve(this.exitInfo);
      });
      child.once('error', (error) => {
        live.delete(this);
        this.exitInfo = `could not start: ${error.message}`;
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Why it stopped and what it said last, for an error message. */
  describeFailure(): string {
    const said = this.output.trim();
    return `${this.name} ${this.exitInfo ?? 'is still running'}${said ? `; its last output:\n${indent(said)}` : ''}`;
  }

  async stop(): Promise<void> {
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/**
 * Forks one of the bench's own TypeScript servers and waits for it to report its port over IPC
 * (see announceListening): with `--port 0` there is no window in which another process takes it.
 */
export async function forkBenchServer(name: string, script: string, args: string[], timeoutMs = 30_000): Promise<{ service: ChildService; port: number }> {
  const child = fork(RUN_TS, [path.join(PROJECT_ROOT, script), '--port', '0', ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
  const service = new ChildService(name, child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (message: unknown) => {
      const { type, port } = (message ?? {}) as { type?: unknown; port?: unknown };
      if (type === 'listening' && typeof port === 'number') {
        clearTimeout(timer);
        resolve(port);
      }
    });
    void service.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(service.describeFailure()));
    });
  }).catch(async (error: unknown) => {
    await service.stop();
    throw error;
  });
  return { service, port };
}

/** Starts `node <args>` in the project root. */
export function spawnNode(name: string, args: string[], env: NodeJS.ProcessEnv): ChildService {
  return new ChildService(name, spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env }));
}

/**
 * A loopback port free right now, for servers that take a fixed `--port` and do not report back.
 * Another process could take it before the server binds; on a bench machine that is rare enough,
 * and a server that fails to bind is reported, not measured.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200; fails early if `service` exits meanwhile. */
export async function waitForOk(url: string, headers: Record<string, string>, service: ChildService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (service.hasExited) throw new Error(service.describeFailure());
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `answered ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last}); ${service.describeFailure()}`);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((service) => service.stop()));
}

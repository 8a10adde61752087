// A real `switchyard serve` process on a free port, for tests that kill, stop or cluster servers.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface SpawnedServer {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>`, read from the line the server prints once it listens. */
  origin: string;
  /** Settles with the exit code once the process ends. */
  exited: Promise<number | null>;
}

/** Starts `switchyard serve --config <file> --port 0` with `env` added to this process's, and waits until it listens. */
export async function spawnServer(configFile: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [path.join(root, 'bin/switchyard.mjs'), 'serve', '--config', configFile, '--port', '0'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += String(chunk);
      const match = /Switchyard listening on (http:\/\/[^/\s]+)\/v1/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening:\n${output}`));
    });
  });
  return { child, origin, exited };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';

/**
 * The generated tiny GGUF served over loopback HTTP, as a model host serves it (HEAD, Range),
 * throttled so that a download takes long enough for its progress to be seen.
 */
export async function startGgufHost(options: { bytesPerTick?: number; tickMs?: number } = {}): Promise<{ url: string; size: number; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-gguf-host-'));
  await writeTestModel(path.join(dir, 'tiny.gguf'), { seed: 3 });
  const bytes = await readFile(path.join(dir, 'tiny.gguf'));
  const step = options.bytesPerTick ?? 128 * 1024;
  const tick = options.tickMs ?? 60;
  const server: Server = createServer(async (request, response) => {
    if (request.url === '/') return void response.writeHead(200).end();
    if (request.url !== '/tiny.gguf') return void response.writeHead(404).end();
    const range = /bytes=(\d+)-/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    response.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(bytes.length - start),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (request.method === 'HEAD') return void response.end();
    for (let at = start; at < bytes.length && !response.destroyed; at += step) {
      response.write(bytes.subarray(at, Math.min(bytes.length, at + step)));
      await new Promise((resolve) => setTimeout(resolve, tick));
    }
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tiny.gguf`,
    size: bytes.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SwitchyardError } from '../../errors/errors.js';

export interface PullProgress {
  downloadedBytes: number;
  totalBytes: number;
}

export interface PullOptions {
  /** Raw byte counts, for a progress bar. */
  onStatus?: (progress: PullProgress) => void;
  /** A human line every few seconds (size, speed, ETA), for a log. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

const MB = 1024 * 1024;

/** `12.3 MB of 456.7 MB (2.7%), 8.1 MB/s, ETA 55s` */
export function describeProgress(progress: PullProgress, bytesPerSecond: number): string {
  const percent = progress.totalBytes > 0 ? ((progress.downloadedBytes / progress.totalBytes) * 100).toFixed(1) : '?';
  const remaining = bytesPerSecond > 0 ? Math.ceil((progress.totalBytes - progress.downloadedBytes) / bytesPerSecond) : undefined;
  return (
    `${(progress.downloadedBytes / MB).toFixed(1)} MB of ${(progress.totalBytes / MB).toFixed(1)} MB (${percent}%), ` +
    `${(bytesPerSecond / MB).toFixed(1)} MB/s, ETA ${remaining === undefined ? '?' : `${remaining}s`}`
  );
}

/**
 * Downloads a GGUF (`hf:<owner>/<repo>/<file>.gguf`, `hf:<owner>/<repo>:<quant>` or an https URL)
 * into the model cache and returns its path. An interrupted download resumes where it stopped; a
 * file already in the cache is not fetched again.
 */
export async function pullModel(uri: string, cacheDir: string, options: PullOptions = {}): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  // A model pulled before is used as it is, without asking the network (offline starts work).
  const known = await cachedModelPath(uri, cacheDir);
  if (known) return known;
  await checkReachable(uri);
  const { createModelDownloader } = await import('node-llama-cpp');
  const started = Date.now();
  let lastLine = 0;
  try {
    const downloader = await createModelDownloader({
      modelUri: uri,
      dirPath: cacheDir,
      skipExisting: true,
      deleteTempFileOnCancel: false,
      showCliProgress: false,
      onProgress: ({ totalSize, downloadedSize }) => {
        const progress = { downloadedBytes: downloadedSize, totalBytes: totalSize };
        options.onStatus?.(progress);
        const now = Date.now();
        if (options.onProgress && now - lastLine >= 5000) {
          lastLine = now;
          options.onProgress(`pulling ${uri}: ${describeProgress(progress, (downloadedSize / Math.max(1, now - started)) * 1000)}`);
        }
      },
    });
    const file = await downloader.download(options.signal ? { signal: options.signal } : undefined);
    await rememberPull(uri, file, cacheDir);
    return file;
  } catch (error) {
    if (error instanceof SwitchyardError) throw error;
    throw new SwitchyardError('model_pull_failed', `Could not pull ${uri}: ${(error as Error).message}`, { status: 503, cause: error });
  }
}

const INDEX = 'pulled.json';

async function readIndex(cacheDir: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(path.join(cacheDir, INDEX), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** The cached file of a URI pulled earlier, if it is still there. */
export async function cachedModelPath(uri: string, cacheDir: string): Promise<string | undefined> {
  const file = (await readIndex(cacheDir))[uri];
  return file && existsSync(file) ? file : undefined;
}

async function rememberPull(uri: string, file: string, cacheDir: string): Promise<void> {
  const index = await readIndex(cacheDir);
  index[uri] = file;
  await writeFile(path.join(cacheDir, INDEX), `${JSON.stringify(index, null, 2)}\n`);
}

/** Where a model URI is fetched from. */
function originOf(uri: string): string {
  if (uri.startsWith('hf:') || uri.startsWith('huggingface:')) return 'https://huggingface.co';
  return new URL(uri).origin;
}

/**
 * Fails in seconds when the model's host cannot be reached (offline, blocked), instead of leaving
 * the downloader to retry for minutes.
 */
async function checkReachable(uri: string): Promise<void> {
  const origin = originOf(uri);
  try {
    await fetch(origin, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new SwitchyardError('model_pull_failed', `Could not pull ${uri}: ${origin} cannot be reached (${reason}); are you offline?`, {
      status: 503,
    });
  }
}

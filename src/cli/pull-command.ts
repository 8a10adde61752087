import { SingleBar, Presets } from 'cli-progress';
import { DEFAULT_MODEL_CACHE } from '../providers/llama/llama-config.js';
import { pullModel } from '../providers/llama/pull-model.js';

const MB = 1024 * 1024;

/** `switchyard pull <uri>`: downloads a GGUF into the model cache with a progress bar; resumable. */
export async function pullCommand(uri: string | undefined, cacheDir: string | undefined, json: boolean): Promise<void> {
  if (!uri) throw new Error('usage: switchyard pull <hf:owner/repo/file.gguf | https://…/file.gguf> [--cache-dir DIR]');
  const bar = new SingleBar(
    {
      format: '{bar} {percentage}% | {downloaded}/{total} MB | {speed} MB/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  const started = Date.now();
  let barStarted = false;
  const file = await pullModel(uri, cacheDir ?? DEFAULT_MODEL_CACHE, {
    onStatus: ({ downloadedBytes, totalBytes }) => {
      if (json || totalBytes <= 0) return;
      const values = {
        downloaded: (downloadedBytes / MB).toFixed(1),
        total: (totalBytes / MB).toFixed(1),
        speed: ((downloadedBytes / MB) / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1),
      };
      if (!barStarted) {
        bar.start(totalBytes, downloadedBytes, values);
        barStarted = true;
      } else bar.update(downloadedBytes, values);
    },
  });
  if (barStarted) bar.stop();
  process.stdout.write(json ? `${JSON.stringify({ uri, file })}\n` : `${file}\n`);
}

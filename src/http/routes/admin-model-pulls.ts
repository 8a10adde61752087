import type { FastifyInstance } from 'fastify';
import { SwitchyardError, ValidationError } from '../../errors/errors.js';
import { randomId } from '../../util/ids.js';
import { pullModel } from '../../providers/llama/pull-model.js';

interface PullJob {
  id: string;
  uri: string;
  status: 'downloading' | 'completed' | 'failed' | 'cancelled';
  downloadedBytes: number;
  totalBytes: number;
  startedAt: number;
  file: string | null;
  error: string | null;
  controller: AbortController;
}

function jobJson(job: PullJob) {
  const elapsedS = Math.max(0.001, (Date.now() - job.startedAt) / 1000);
  const bytesPerSecond = job.downloadedBytes / elapsedS;
  return {
    id: job.id,
    object: 'model.pull',
    uri: job.uri,
    status: job.status,
    downloaded_bytes: job.downloadedBytes,
    total_bytes: job.totalBytes,
    bytes_per_second: Math.round(bytesPerSecond),
    eta_seconds: job.status === 'downloading' && bytesPerSecond > 0 && job.totalBytes > 0 ? Math.ceil((job.totalBytes - job.downloadedBytes) / bytesPerSecond) : null,
    file: job.file,
    error: job.error,
  };
}

/**
 * `/admin/v1/models/pulls`: GGUF downloads into the model cache, started from the admin UI, with
 * their progress (the UI polls). One job per URI at a time: asking again joins the running one.
 */
export function registerModelPullRoutes(app: FastifyInstance, cacheDir: string): void {
  const jobs = new Map<string, PullJob>();

  app.post('/models/pulls', async (request) => {
    const uri = (request.body as { uri?: unknown } | null)?.uri;
    if (typeof uri !== 'string' || uri.trim() === '') throw new ValidationError("Missing required parameter: 'uri'.", 'uri', 'missing_required_parameter');
    if (!/^hf:[^/\s]+\/[^/\s]+/.test(uri) && !/^https?:\/\/\S+$/.test(uri)) {
      throw new ValidationError(`Invalid 'uri': expected hf:<owner>/<repo>/<file>.gguf, hf:<owner>/<repo>:<quant> or an http(s) URL, got '${uri}'.`, 'uri');
    }
    const running = [...jobs.values()].find((job) => job.uri === uri && job.status === 'downloading');
    if (running) return jobJson(running);
    const job: PullJob = { id: randomId('pull_'), uri, status: 'downloading', downloadedBytes: 0, totalBytes: 0, startedAt: Date.now(), file: null, error: null, controller: new AbortController() };
    jobs.set(job.id, job);
    void pullModel(uri, cacheDir, {
      signal: job.controller.signal,
      onStatus: ({ downloadedBytes, totalBytes }) => {
        job.downloadedBytes = downloadedBytes;
        job.totalBytes = totalBytes;
      },
    }).then(
      (file) => {
        job.file = file;
        job.status = 'completed';
        if (job.totalBytes === 0) job.totalBytes = job.downloadedBytes;
      },
      (error: unknown) => {
        job.status = job.controller.signal.aborted ? 'cancelled' : 'failed';
        job.error = (error as Error).message;
      },
    );
    return jobJson(job);
  });
  app.get('/models/pulls', async () => ({ object: 'list', data: [...jobs.values()].map(jobJson) }));
  app.get('/models/pulls/:id', async (request) => {
    const job = jobs.get((request.params as { id: string }).id);
    if (!job) throw new SwitchyardError('not_found', `No pull with id '${(request.params as { id: string }).id}'.`, { param: 'id' });
    return jobJson(job);
  });
  app.delete('/models/pulls/:id', async (request) => {
    const job = jobs.get((request.params as { id: string }).id);
    if (!job) throw new SwitchyardError('not_found', `No pull with id '${(request.params as { id: string }).id}'.`, { param: 'id' });
    job.controller.abort();
    return jobJson(job);
  });
}

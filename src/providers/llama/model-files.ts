import { existsSync } from 'node:fs';
import path from 'node:path';
import { SwitchyardError } from '../../errors/errors.js';
import type { LlamaModelConfig } from './llama-config.js';
import { pullModel } from './pull-model.js';

/**
 * The GGUF file for a model: its `file` as given, or the cached copy of its `uri`, pulled now when
 * it is not there yet (with progress in the log).
 */
export async function resolveModelFile(config: LlamaModelConfig, cacheDir: string, log: (line: string) => void): Promise<string> {
  if (config.file) {
    const file = path.resolve(config.file);
    if (!existsSync(file)) {
      throw new SwitchyardError('model_file_error', `The model file for '${config.id}' does not exist: ${file}`, { status: 503 });
    }
    return file;
  }
  return pullModel(config.uri!, cacheDir, { onProgress: (line) => log(line) });
}

import type { Llama, LlamaModel } from 'node-llama-cpp';
import { SwitchyardError } from '../../errors/errors.js';
import { checkGgufHeader } from './gguf-check.js';

let engine: Promise<Llama> | undefined;

/**
 * The llama.cpp runtime, created once per process with the first provider's GPU setting. It never
 * builds from source or downloads a binary at run time: the prebuilt binaries come with the npm packages.
 */
export function getEngine(gpu: 'auto' | false): Promise<Llama> {
  engine ??= import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) =>
    getLlama({ gpu, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error, progressLogs: false }),
  );
  return engine;
}

/** Loads a model after checking its header, with a deadline: a bad file is an error, never a hung server. */
export async function loadModelFile(llama: Llama, file: string, options: { gpuLayers: 'auto' | number; timeoutMs: number }): Promise<LlamaModel> {
  await checkGgufHeader(file);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new SwitchyardError('model_load_timeout', `Loading ${file} took longer than ${options.timeoutMs} ms.`, { status: 503 }));
    }, options.timeoutMs);
  });
  try {
    return await Promise.race([
      llama.loadModel({ modelPath: file, gpuLayers: options.gpuLayers, loadSignal: controller.signal }),
      deadline,
    ]);
  } catch (error) {
    if (error instanceof SwitchyardError) throw error;
    // A header can be fine and the rest not (a truncated download): llama.cpp then fails with a bare
    // "Failed to load model" (its detail only goes to its log). Still the file's fault, not a server bug.
    throw new SwitchyardError('model_file_error', `${file} could not be loaded as a GGUF model: ${(error as Error).message}.`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

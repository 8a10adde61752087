import { open } from 'node:fs/promises';
import { SwitchyardError } from '../../errors/errors.js';

/**
 * Checks a GGUF file's header before llama.cpp sees it. A malformed header can make the native
 * loader allocate without bound instead of failing, so the obvious lies (wrong magic, absurd counts,
 * a file too short to hold them) are refused here with a clear error.
 */
export async function checkGgufHeader(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new SwitchyardError('model_file_error', `Cannot open model file ${file}: ${(error as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(24);
    const { bytesRead } = await handle.read(header, 0, 24, 0);
    const bad = (reason: string) => new SwitchyardError('model_file_error', `${file} is not a usable GGUF model: ${reason}.`);
    if (bytesRead < 24) throw bad('the file is too short');
    if (header.toString('latin1', 0, 4) !== 'GGUF') throw bad('wrong magic number');
    const version = header.readUInt32LE(4);
    if (version < 2 || version > 3) throw bad(`unsupported GGUF version ${version}`);
    const tensors = header.readBigUInt64LE(8);
    const entries = header.readBigUInt64LE(16);
    // Each tensor and metadata entry takes well over 8 bytes in the file.
    if (tensors === 0n || tensors * 8n > BigInt(size)) throw bad(`implausible tensor count ${tensors}`);
    if (entries * 8n > BigInt(size)) throw bad(`implausible metadata count ${entries}`);
  } finally {
    await handle.close();
  }
}

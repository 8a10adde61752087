import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * The key under which API keys are hashed: `SWITCHYARD_SECRET`, else a random one kept in the data
 * directory (created on first start, readable by its owner only). Nodes sharing a database must
 * share it; the store refuses to start under a different one.
 */
export function loadServerSecret(dataDir: string, env: NodeJS.ProcessEnv): Buffer {
  const fromEnv = env.SWITCHYARD_SECRET;
  if (fromEnv) {
    if (fromEnv.length < 16) throw new Error('SWITCHYARD_SECRET must be at least 16 characters.');
    return Buffer.from(fromEnv, 'utf8');
  }
  const file = path.join(dataDir, 'secret');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  // Written whole under a temporary name, then linked into place: of two processes starting at
  // once, one links and the other reads the complete file.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  try {
    linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

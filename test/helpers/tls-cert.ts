import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** The certificate itself, for clients to trust (`ca`). */
  cert: string;
  remove(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made at test time and written to a temp dir. */
export async function makeTestCertificate(): Promise<TestCertificate> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await writeFile(certFile, pems.cert);
  await writeFile(keyFile, pems.private);
  return { certFile, keyFile, cert: pems.cert, remove: () => rm(dir, { recursive: true, force: true }) };
}

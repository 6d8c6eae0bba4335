import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export interface EmulatorCert {
  key: string;
  cert: string;
}

/**
 * A fresh self-signed certificate for 127.0.0.1 / localhost (nothing is downloaded). Clients trust
 * exactly this certificate through their TLS options; the process-wide trust store is left alone.
 * Tests make one per start; `npm start` keeps one per data directory (localEnv.ts, `reusableCert`),
 * so a client that trusts it keeps working across restarts.
 */
export async function generateEmulatorCert(): Promise<EmulatorCert> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 30 * 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'workshop ARM emulator (127.0.0.1)' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/**
 * `saved` when it is a certificate this emulator can keep serving (readable, its key given, valid
 * for at least another day); otherwise undefined, and the caller makes a new one.
 */
export function reusableCert(saved: Partial<EmulatorCert> | undefined, now = Date.now()): EmulatorCert | undefined {
  if (!saved?.key || !saved.cert) return undefined;
  try {
    const x509 = new X509Certificate(saved.cert);
    if (Date.parse(x509.validTo) - now < 24 * 3600 * 1000 || Date.parse(x509.validFrom) > now) return undefined;
    if (!x509.checkIP('127.0.0.1')) return undefined;
  } catch {
    return undefined;
  }
  return { key: saved.key, cert: saved.cert };
}

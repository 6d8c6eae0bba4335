import { generate } from 'selfsigned';

export interface EmulatorCert {
  key: string;
  cert: string;
}

/**
 * A fresh self-signed certificate for 127.0.0.1 / localhost, made at every start (nothing is
 * downloaded or written to disk). Clients trust exactly this certificate through their TLS options;
 * the process-wide trust store is left alone.
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

// Certificates made in the test with the openssl command (a CA, and leaves it signs for a server on
// 127.0.0.1 or for a client), so the TLS tests exercise real X.509 chains and nothing is checked in.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface Pem {
  /** Paths of the files. */
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function read(certFile: string, keyFile: string): Pem {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** A self-signed CA named `name`, its files in `dir`. */
export function makeCa(dir: string, name: string): Pem {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
  return read(certFile, keyFile);
}

/** A certificate for `cn` signed by `ca`, usable by a server on 127.0.0.1 and by a client. */
export function makeLeaf(dir: string, ca: Pem, cn: string): Pem {
  const certFile = join(dir, `${cn}.crt`);
  const keyFile = join(dir, `${cn}.key`);
  const csr = join(dir, `${cn}.csr`);
  const ext = join(dir, `${cn}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    String(randomInt(1, 2 ** 47)),
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return read(certFile, keyFile);
}

export interface HttpsAnswer {
  status: number;
  body: Record<string, unknown>;
  /** CN of the certificate the server presented. */
  serverCn: string;
}

/**
 * One HTTPS request on a fresh connection (so a reloaded server certificate shows), trusting
 * `serverCa`, as `client` or without a client certificate; POST with `body` as JSON, else GET.
 */
export function httpsCall(url: string, serverCa: Buffer, client?: Pem, body?: unknown): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        ca: serverCa,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(client ? { cert: client.cert, key: client.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text },
            serverCn: String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? ''),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

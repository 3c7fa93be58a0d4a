// TLS for a loadwise HTTPS server: the certificate, key and (for mutual TLS) client CA read from
// files, checked before use, and reloaded when the files change. Polls the content rather than
// using fs.watch: a Secret volume updates by swapping a symlink, which inotify-based watches miss.
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
  /** Clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: string;
}

/** PEM contents of the files; `ca` is set exactly when a client CA is configured. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** A PEM file is a few KB; a larger one is refused rather than read into memory. */
const MAX_PEM_BYTES = 1024 * 1024;

async function readPem(path: string, what: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new Error(`${what} ${path}: cannot read: ${(err as Error).message}`);
  }
  if (data.length > MAX_PEM_BYTES) throw new Error(`${what} ${path}: larger than ${MAX_PEM_BYTES} bytes`);
  return data;
}

/** The context options a server built from `material` uses (`ca` only for mutual TLS). */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, ...(material.ca ? { ca: material.ca } : {}) };
}

/**
 * Reads and checks the files: the key must match the certificate and every PEM must parse. Throws
 * an Error that names the file and says what is wrong.
 */
export async function loadTls(files: TlsFiles): Promise<TlsMaterial> {
  const material: TlsMaterial = {
    cert: await readPem(files.cert, 'TLS certificate'),
    key: await readPem(files.key, 'TLS key'),
    ...(files.clientCa ? { ca: await readPem(files.clientCa, 'client CA') } : {}),
  };
  try {
    createSecureContext(secureContextOptions(material));
  } catch (err) {
    throw new Error(
      `TLS files ${[files.cert, files.key, files.clientCa].filter(Boolean).join(', ')} unusable: ${
        (err as Error).message
      }`,
    );
  }
  return material;
}

const same = (a: TlsMaterial, b: TlsMaterial) =>
  a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca ?? Buffer.alloc(0)).equals(b.ca ?? Buffer.alloc(0));

export type TlsReload = { result: 'unchanged' } | { result: 'ok' } | { result: 'invalid'; error: string };

export interface TlsReloaderOptions {
  files: TlsFiles;
  /** What the server runs with now. */
  current: TlsMaterial;
  /** Puts new, checked material in force (for connections made from now on). */
  apply: (material: TlsMaterial) => void;
  /** Told of every change: applied, or refused (the last good material stays). */
  onReload: (reload: TlsReload) => void;
}

/** Reloads the TLS files when their content changes; an unusable change is reported, not applied. */
export class TlsReloader {
  private current: TlsMaterial;
  /** The last error reported, so a file that stays broken is reported once. */
  private lastError = '';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly opts: TlsReloaderOptions) {
    this.current = opts.current;
  }

  /** Reads the files once and applies them when they changed. */
  async check(): Promise<TlsReload> {
    let reload: TlsReload;
    try {
      const next = await loadTls(this.opts.files);
      if (same(next, this.current)) return { result: 'unchanged' };
      this.opts.apply(next);
      this.current = next;
      this.lastError = '';
      reload = { result: 'ok' };
    } catch (err) {
      const error = (err as Error).message;
      if (error === this.lastError) return { result: 'unchanged' };
      this.lastError = error;
      reload = { result: 'invalid', error };
    }
    this.opts.onReload(reload);
    return reload;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.check().finally(() => (this.busy = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Whether the client on `socket` presented a certificate that the server's client CA verified.
 * Undefined when it did; otherwise why not, for the 401/403 answer.
 */
export function clientCertProblem(socket: TLSSocket): { status: 401 | 403; message: string } | undefined {
  if (socket.authorized) return undefined;
  const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  if (!presented) {
    return { status: 401, message: 'a client certificate signed by the --tls-client-ca is required' };
  }
  return {
    status: 403,
    message: `the client certificate is not trusted: ${String(socket.authorizationError ?? 'unknown')}`,
  };
}

// Notices kubelet restarting: a restarted kubelet removes the device-plugin directory's sockets and
// creates kubelet.sock afresh, and forgets every plugin until it registers again. A directory watch
// reacts within milliseconds; a slow poll catches what the watch misses (an overlay filesystem
// without inotify, a directory replaced as a whole).
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KUBELET_SOCKET } from '../../contracts/device-plugin.ts';
import type { Logger } from '../../common/log.ts';

/** Identifies one incarnation of kubelet.sock; undefined while it does not exist. */
export type SocketIdentity = string | undefined;

export async function socketIdentity(path: string): Promise<SocketIdentity> {
  try {
    const s = await stat(path);
    return s.isSocket() ? `${s.dev}:${s.ino}:${s.ctimeMs}` : undefined;
  } catch {
    return undefined;
  }
}

export class KubeletSocketWatcher {
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private last: SocketIdentity;
  private checking = false;
  private again = false;

  constructor(
    private readonly dir: string,
    private readonly pollMs: number,
    private readonly logger: Logger,
    /** Called with each new incarnation (or undefined when the socket went away). */
    private readonly onChange: (identity: SocketIdentity) => void,
    /** Tests turn the directory watch off to exercise the poll alone. */
    private readonly watchDirectory = true,
  ) {}

  get path(): string {
    return join(this.dir, KUBELET_SOCKET);
  }

  /** Starts watching; `initial` is the incarnation already handled. */
  start(initial: SocketIdentity): void {
    this.last = initial;
    if (this.watchDirectory) this.watchDir();
    this.poll = setInterval(() => this.check(), this.pollMs);
    this.poll.unref();
  }

  private watchDir(): void {
    try {
      this.watcher = watch(this.dir, (_event, filename) => {
        // Some platforms give no file name; then any event is worth a look.
        if (filename === null || filename === KUBELET_SOCKET) this.check();
      });
      this.watcher.on('error', (err) => {
        this.logger.warn(
          { err: err.message, dir: this.dir },
          'device-plugin directory watch failed; polling only',
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message, dir: this.dir },
        'cannot watch the device-plugin directory; polling only',
      );
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Compares the socket with the last incarnation seen; a burst of events makes at most two stats. */
  check(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    void socketIdentity(this.path).then((identity) => {
      this.checking = false;
      if (identity !== this.last && (this.watcher !== undefined || this.poll !== undefined)) {
        this.last = identity;
        this.onChange(identity);
      }
      if (this.again) {
        this.again = false;
        this.check();
      }
    });
  }
}

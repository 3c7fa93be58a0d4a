// Reads a /proc file into a buffer allocated once, so a sample allocates no new memory.
import { closeSync, openSync, readSync } from 'node:fs';

export type ReadOutcome = { ok: true; length: number } | { ok: false; error: string };

export class ProcFile {
  readonly buffer: Buffer;

  constructor(
    readonly path: string,
    capacity: number,
  ) {
    this.buffer = Buffer.alloc(capacity);
  }

  /**
   * Reads from the start, up to the buffer's capacity. /proc files are generated on read and
   * have no stable size, so we read until EOF or a full buffer rather than stat-ing them.
   */
  read(): ReadOutcome {
    let fd = -1;
    try {
      fd = openSync(this.path, 'r');
      let length = 0;
      while (length < this.buffer.length) {
        const n = readSync(fd, this.buffer, length, this.buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      return { ok: true, length };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { ok: false, error: `${this.path}: ${e.code ?? e.message}` };
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
}

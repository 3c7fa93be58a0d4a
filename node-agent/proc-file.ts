// Reads a /proc file into a buffer allocated once, so a sample allocates no new memory.
import { closeSync, openSync, readSync } from 'node:fs';

export class ProcFile {
  readonly buffer: Buffer;
  /** Why the last read failed (`<path>: <errno code>`). */
  lastError = '';

  constructor(
    readonly path: string,
    capacity: number,
  ) {
    this.buffer = Buffer.alloc(capacity);
  }

  /**
   * Reads from the start, up to the buffer's capacity, and returns the bytes read, or -1 with
   * `lastError` set. /proc files are generated on read and have no stable size, so we read until
   * EOF or a full buffer rather than stat-ing them. Returns a number, not an object, so a sample
   * allocates nothing.
   */
  read(): number {
    let fd = -1;
    try {
      fd = openSync(this.path, 'r');
      let length = 0;
      while (length < this.buffer.length) {
        const n = readSync(fd, this.buffer, length, this.buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      return length;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.lastError = `${this.path}: ${e.code ?? e.message}`;
      return -1;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
}

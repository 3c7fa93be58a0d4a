// Reloading the policy when its file changes. Polls the content rather than using fs.watch: a
// ConfigMap volume updates by swapping a symlink, which inotify-based watches miss.
import { readFile } from 'node:fs/promises';
import { type PolicyResult, parsePolicy } from './policy.ts';

export interface PolicyWatchOptions {
  path: string;
  intervalMs: number;
  /** Called with each new content's result: a valid policy to apply, or an error to report. */
  onChange: (result: PolicyResult) => void;
  /** The content already loaded, so the first poll does not report it again. */
  initialText?: string;
}

/** Starts polling; returns a function that stops it. */
export function watchPolicyFile(options: PolicyWatchOptions): () => void {
  let last = options.initialText;
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const text = await readFile(options.path, 'utf8');
      if (text !== last) {
        last = text;
        options.onChange(parsePolicy(text, options.path));
      }
    } catch (err: unknown) {
      const error = `${options.path}: cannot read: ${(err as Error).message}`;
      if (last !== error) {
        last = error;
        options.onChange({ ok: false, error });
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

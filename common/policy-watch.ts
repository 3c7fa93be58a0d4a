// Reloading the policy when its file changes. Polls the content rather than using fs.watch: a
// ConfigMap volume updates by swapping a symlink, which inotify-based watches miss.
import { type PolicyResult, parsePolicy, readPolicyText } from './policy.ts';

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
      const read = await readPolicyText(options.path);
      // An unreadable or oversized file is reported once, however long it stays so.
      const seen = read.ok ? read.text : read.error;
      if (seen !== last) {
        last = seen;
        options.onChange(read.ok ? parsePolicy(read.text, options.path) : read);
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

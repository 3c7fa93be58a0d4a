// Runs jobs on worker threads (seeds are independent), or in this thread with one worker.
import { Worker } from 'node:worker_threads';
import { type Job, runJob } from './job.ts';
import { type RunResult } from './run.ts';

type Reply = { ok: true; result: RunResult } | { ok: false; error: string };

export async function runJobs(
  jobs: readonly Job[],
  workers: number,
  onDone: (r: RunResult) => void,
): Promise<RunResult[]> {
  if (workers <= 1 || jobs.length <= 1) {
    const out: RunResult[] = [];
    for (const j of jobs) {
      const r = runJob(j);
      onDone(r);
      out.push(r);
      // Let pending I/O (progress output) through between long synchronous runs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return out;
  }
  const results: RunResult[] = new Array<RunResult>(jobs.length);
  let next = 0;
  const count = Math.min(workers, jobs.length);
  const url = new URL('./worker-entry.mjs', import.meta.url);
  await Promise.all(
    Array.from({ length: count }, async () => {
      const w = new Worker(url);
      try {
        while (next < jobs.length) {
          const i = next++;
          const reply = await new Promise<Reply>((resolve, reject) => {
            const onError = (e: Error) => reject(e);
            w.once('error', onError);
            w.once('message', (m: Reply) => {
              w.off('error', onError);
              resolve(m);
            });
            w.postMessage(jobs[i]);
          });
          if (!reply.ok)
            throw new Error(`${jobs[i]!.trace}/${jobs[i]!.policy}/${jobs[i]!.seed}: ${reply.error}`);
          results[i] = reply.result;
          onDone(reply.result);
        }
      } finally {
        await w.terminate();
      }
    }),
  );
  return results;
}

// Worker thread body: runs the jobs the pool posts, one at a time.
import { parentPort } from 'node:worker_threads';
import { type Job, runJob } from './job.ts';

if (!parentPort) throw new Error('worker.ts must run as a worker thread');
const port = parentPort;
port.on('message', (job: Job) => {
  try {
    port.postMessage({ ok: true, result: runJob(job) });
  } catch (e) {
    port.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});

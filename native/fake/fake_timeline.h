/* The fake GPU's kernel timelines, one per device: kernels run back to back in launch order, on
 * one queue that every process launching on the device shares when FAKE_GPU_SHARED_STATE names a
 * file (as a real GPU is shared), or private to the process otherwise. Internal to the fake. */
#ifndef LOADWISE_FAKE_TIMELINE_H
#define LOADWISE_FAKE_TIMELINE_H

#include <stdint.h>

#define FT_MAX_DEV 8
#define FT_MAX_PROCS 64

#define FT_HIDDEN __attribute__((visibility("hidden")))

/* Maps the timelines (the shared file or process-private memory); called once, from the fake's
 * constructor. A shared file that cannot be used falls back to private memory, with one line. */
FT_HIDDEN void ft_setup(uint64_t queue_ns);
/* Queues `ns` of kernel time for this process on `dev`, waiting first while the queue is full.
 * Returns when the kernel will have finished, in fakeNowNs time. */
FT_HIDDEN uint64_t ft_enqueue(int dev, uint64_t ns);
/* When this process's work queued on `dev` so far will have finished (its stream order). */
FT_HIDDEN uint64_t ft_process_done(int dev);
/* Kernel time run on `dev` so far: by every process, or by `pid`. */
FT_HIDDEN uint64_t ft_busy(int dev);
FT_HIDDEN uint64_t ft_process_busy(int dev, int32_t pid);
/* Pids that have launched on `dev` (up to max) and when each first did; how many. */
FT_HIDDEN int ft_processes(int dev, int *pids, uint64_t *since_ns, int max);

#endif

/* What the fake driver exposes beyond the CUDA API, for the fake NVML, the tests and the bench. */
#ifndef LOADWISE_FAKE_GPU_H
#define LOADWISE_FAKE_GPU_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds device `dev` has spent running kernels so far: every process's kernels when
 * FAKE_GPU_SHARED_STATE shares the device between processes. */
uint64_t fakeGpuBusyNs(int dev);
/* The same for the kernels of process `pid` alone. */
uint64_t fakeGpuProcessBusyNs(int dev, int pid);
/* The pids that have launched kernels on `dev` (at most max) and when each first did; how many. */
int fakeGpuProcesses(int dev, int *pids, uint64_t *since_ns, int max);
/* The calling thread's current device, -1 without a context. */
int fakeCurrentDevice(void);
/* Sleeps until fakeNowNs() reaches `until_ns`. */
void fakeWaitUntil(uint64_t until_ns);
/* Bytes the fake device holds for this process. */
uint64_t fakeGpuUsedBytes(int dev);
uint64_t fakeGpuTotalBytes(void);
int fakeGpuCount(void);
/* The fake's own implementation of `name`, bypassing every interposer: the bench's direct call. */
void *fakeCudaDirect(const char *name);
/* How many times the fake's `name` ran (allocation and launch entry points). */
uint64_t fakeCudaCalls(const char *name);
uint64_t fakeNowNs(void);

#endif

/* What the fake driver exposes beyond the CUDA API, for the fake NVML, the tests and the bench. */
#ifndef LOADWISE_FAKE_GPU_H
#define LOADWISE_FAKE_GPU_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds device `dev` has spent running kernels so far. */
uint64_t fakeGpuBusyNs(int dev);
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

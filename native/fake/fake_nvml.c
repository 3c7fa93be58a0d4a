/* A fake libnvidia-ml.so.1 over the fake driver's devices: memory as the driver holds it, and
 * utilisation computed from the driver's kernel timeline, per process and for the whole device. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/cuda_types.h"
#include "fake_gpu.h"

#define EXPORT __attribute__((visibility("default")))

static int dev_of(nvmlDevice_t d) {
    int i = (int)(uintptr_t)d - 1;
    return i >= 0 && i < fakeGpuCount() ? i : -1;
}

static void uuid_of(int dev, char *out, size_t len) {
    unsigned char b[16];
    for (int i = 0; i < 16; i++) b[i] = (unsigned char)(i == 0 ? 0xf0 + dev : i);
    snprintf(out, len, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

EXPORT nvmlReturn_t nvmlInit_v2(void) { return NVML_SUCCESS; }
EXPORT nvmlReturn_t nvmlInit(void) { return NVML_SUCCESS; }
EXPORT nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
    *n = (unsigned)fakeGpuCount();
    return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
    if ((int)i >= fakeGpuCount()) return NVML_ERROR_INVALID_ARGUMENT;
    *d = (nvmlDevice_t)(uintptr_t)(i + 1);
    return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *d) {
    char mine[64];
    for (int i = 0; i < fakeGpuCount(); i++) {
        uuid_of(i, mine, sizeof(mine));
        if (strcmp(mine, uuid) == 0) {
            *d = (nvmlDevice_t)(uintptr_t)(i + 1);
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    uuid_of(dev, uuid, len);
    return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned int *index) {
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    *index = (unsigned)dev;
    return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = fakeGpuTotalBytes();
    m->used = fakeGpuUsedBytes(dev);
    m->free = m->total - m->used;
    return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = fakeGpuTotalBytes();
    m->reserved = 300ULL << 20;
    m->used = fakeGpuUsedBytes(dev);
    m->free = m->total - m->reserved - m->used;
    return NVML_SUCCESS;
}

/* Utilisation since the previous call of the same query by the same thread: each thread keeps its
 * own checkpoints, so the library's sampler and a test program that reads NVML itself do not steal
 * each other's windows. The first call has no window yet and reports nothing. */
typedef struct {
    uint64_t at_ns;
    uint64_t busy_ns;
} checkpoint;

#define MAX_DEV 8
#define MAX_PROCS 64

static __thread checkpoint device_cp[MAX_DEV];

static unsigned percent_of(uint64_t used, uint64_t span) {
    unsigned percent = (unsigned)((used * 100 + span / 2) / span);
    return percent > 100 ? 100 : percent;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    uint64_t now = fakeNowNs(), busy = fakeGpuBusyNs(dev);
    checkpoint last = device_cp[dev];
    device_cp[dev] = (checkpoint){now, busy};
    u->gpu = last.at_ns == 0 || now <= last.at_ns ? 0 : percent_of(busy - last.busy_ns, now - last.at_ns);
    u->memory = 0;
    return NVML_SUCCESS;
}

/* Per-process windows: one start time per device and thread, one busy figure per pid. */
typedef struct {
    int pid;
    uint64_t busy_ns;
} process_cp;

static __thread struct {
    uint64_t at_ns;
    int n;
    process_cp procs[MAX_PROCS];
} window[MAX_DEV];

/* One sample per process that ran kernels since the caller's previous query, as the real call
 * reports per-process SM use since the caller's last sample time (CLOCK_REALTIME microseconds);
 * NOT_FOUND when nothing ran. */
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t d, nvmlProcessUtilizationSample_t *s,
                                                    unsigned int *n, unsigned long long last_seen_us) {
    (void)last_seen_us;
    int dev = dev_of(d);
    if (dev < 0) return NVML_ERROR_INVALID_ARGUMENT;
    int pids[MAX_PROCS];
    uint64_t since[MAX_PROCS];
    int np = fakeGpuProcesses(dev, pids, since, MAX_PROCS);
    if (s == NULL || *n < (unsigned)(np > 0 ? np : 1)) {
        *n = (unsigned)(np > 0 ? np : 1);
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    uint64_t now = fakeNowNs(), opened = window[dev].at_ns;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    unsigned long long now_us = (unsigned long long)rt.tv_sec * 1000000ULL + (unsigned long long)rt.tv_nsec / 1000;
    process_cp next[MAX_PROCS];
    unsigned out = 0;
    for (int i = 0; i < np; i++) {
        uint64_t busy = fakeGpuProcessBusyNs(dev, pids[i]);
        next[i] = (process_cp){pids[i], busy};
        if (opened == 0 || now <= opened) continue;
        int known = -1;
        for (int j = 0; j < window[dev].n; j++)
            if (window[dev].procs[j].pid == pids[i]) known = j;
        /* A pid unknown to the window counts from zero if it started launching inside it. */
        uint64_t before = known >= 0 ? window[dev].procs[known].busy_ns : since[i] >= opened ? 0 : busy;
        unsigned percent = percent_of(busy - before, now - opened);
        if (percent > 0) s[out++] = (nvmlProcessUtilizationSample_t){(unsigned)pids[i], now_us, percent, 0, 0, 0};
    }
    window[dev].at_ns = now;
    window[dev].n = np;
    memcpy(window[dev].procs, next, sizeof(next[0]) * (size_t)np);
    if (out == 0) return NVML_ERROR_NOT_FOUND;
    *n = out;
    return NVML_SUCCESS;
}

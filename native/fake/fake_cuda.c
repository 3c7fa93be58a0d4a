/* A fake libcuda.so.1: devices with memory, and kernels as busy time on a per-device timeline
 * (fake_timeline.c; shared by processes when FAKE_GPU_SHARED_STATE names a file). A launch is
 * queued behind the previous kernel and takes blocks x FAKE_GPU_NS_PER_BLOCK ns; like a real
 * driver, launching blocks once more than FAKE_GPU_QUEUE_NS of work is queued. Memory is per
 * process. Modules, functions and events: fake_module.c.
 * Environment: FAKE_GPU_COUNT (1), FAKE_GPU_MEMORY (16 GiB), FAKE_GPU_NS_PER_BLOCK (1000),
 * FAKE_GPU_QUEUE_NS (5 ms), FAKE_GPU_GRAPH_NS (200 us per graph launch), FAKE_GPU_SMS (100, the
 * multiprocessor count cuDeviceGetAttribute reports), FAKE_GPU_SHARED_STATE (unset). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/cuda_types.h"
#include "fake_gpu.h"
#include "fake_module.h"
#include "fake_timeline.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_DEV 8
#define MAX_ALLOCS 8192
#define CUDA_ERROR_INVALID_DEVICE 101
#define CUDA_ERROR_INVALID_CONTEXT 201
#define CUDA_ERROR_INVALID_HANDLE 400

typedef struct {
    uint64_t used;
} device;

typedef struct {
    unsigned long long key;
    uint64_t bytes;
    int dev;
    int kind;
} alloc;

static device devs[MAX_DEV];
static alloc allocs[MAX_ALLOCS];
static pthread_mutex_t allocs_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_addr = 0x700000000000ULL;
static int count = 1;
static uint64_t total = 16ULL << 30, ns_per_block = 1000, queue_ns = 5000000, graph_ns = 200000;
static __thread int current = -1;
static int sms = 100;

static uint64_t env_u64(const char *name, uint64_t fallback) {
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 10) : fallback;
}

__attribute__((constructor)) static void setup(void) {
    count = (int)env_u64("FAKE_GPU_COUNT", 1);
    if (count < 1 || count > MAX_DEV) count = 1;
    total = env_u64("FAKE_GPU_MEMORY", total);
    ns_per_block = env_u64("FAKE_GPU_NS_PER_BLOCK", ns_per_block);
    queue_ns = env_u64("FAKE_GPU_QUEUE_NS", queue_ns);
    graph_ns = env_u64("FAKE_GPU_GRAPH_NS", graph_ns);
    sms = (int)env_u64("FAKE_GPU_SMS", (uint64_t)sms);
    ft_setup(queue_ns);
}

EXPORT uint64_t fakeNowNs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- call counters, so tests can tell which entry points really ran ---- */
#define COUNTED(X)                                                                                  \
    X(cuMemAlloc) X(cuMemAlloc_v2) X(cuMemAllocPitch_v2) X(cuMemAllocManaged) X(cuMemAllocAsync)    \
    X(cuMemAllocFromPoolAsync) X(cuMemCreate) X(cuArrayCreate_v2) X(cuArray3DCreate_v2)            \
    X(cuMemFree_v2) X(cuMemFreeAsync) X(cuMemRelease) X(cuArrayDestroy) X(cuLaunchKernel)         \
    X(cuLaunchKernelEx) X(cuLaunchCooperativeKernel) X(cuGraphLaunch)
enum {
#define C_ENUM(n) CALL_##n,
    COUNTED(C_ENUM) CALL_COUNT
#undef C_ENUM
};
static uint64_t calls[CALL_COUNT];
static const char *call_names[CALL_COUNT] = {
#define C_NAME(n) #n,
    COUNTED(C_NAME)
#undef C_NAME
};
#define COUNT(n) __atomic_fetch_add(&calls[CALL_##n], 1, __ATOMIC_RELAXED)

EXPORT uint64_t fakeCudaCalls(const char *name) {
    for (int i = 0; i < CALL_COUNT; i++)
        if (strcmp(call_names[i], name) == 0) return __atomic_load_n(&calls[i], __ATOMIC_RELAXED);
    return 0;
}

/* ---- devices and contexts ---- */
EXPORT int fakeGpuCount(void) { return count; }
EXPORT uint64_t fakeGpuTotalBytes(void) { return total; }

EXPORT CUresult cuInit(unsigned int flags) {
    (void)flags;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDriverGetVersion(int *v) {
    *v = 12040;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceGetCount(int *n) {
    *n = count;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceGet(CUdevice *dev, int ordinal) {
    if (ordinal < 0 || ordinal >= count) return CUDA_ERROR_INVALID_DEVICE;
    *dev = ordinal;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) {
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    for (int i = 0; i < 16; i++) uuid->bytes[i] = (char)(i == 0 ? 0xf0 + dev : i);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuCtxCreate_v2(CUcontext *ctx, unsigned int flags, CUdevice dev) {
    (void)flags;
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    current = dev;
    *ctx = (CUcontext)(uintptr_t)(dev + 1);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) {
    current = ctx == NULL ? -1 : (int)(uintptr_t)ctx - 1;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuCtxGetDevice(CUdevice *dev) {
    if (current < 0) return CUDA_ERROR_INVALID_CONTEXT;
    *dev = current;
    return CUDA_SUCCESS;
}
EXPORT int fakeCurrentDevice(void) { return current; }

/* Sleeps until fakeNowNs() reaches `until`: GPU time passing is what this fake models. */
EXPORT void fakeWaitUntil(uint64_t until) {
    uint64_t now = fakeNowNs();
    if (until > now) {
        struct timespec ts = {(time_t)((until - now) / 1000000000ULL), (long)((until - now) % 1000000000ULL)};
        nanosleep(&ts, NULL);
    }
}

/* Waits for this process's work on the device (its context's), not other processes'. */
EXPORT CUresult cuCtxSynchronize(void) {
    if (current < 0) return CUDA_ERROR_INVALID_CONTEXT;
    fakeWaitUntil(ft_process_done(current));
    return CUDA_SUCCESS;
}

/* The primary context, as the CUDA runtime uses it: the fake has one context per device anyway. */
EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev) {
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    *ctx = (CUcontext)(uintptr_t)(dev + 1);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    return dev < 0 || dev >= count ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

#define CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice dev) {
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    if (attribute != CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) return CUDA_ERROR_INVALID_VALUE;
    *value = sms;
    return CUDA_SUCCESS;
}

/* ---- memory ---- */
static CUresult fake_alloc(int dev, uint64_t bytes, int kind, unsigned long long *key) {
    if (dev < 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&allocs_mu);
    if (devs[dev].used + bytes <= total) {
        for (int i = 0; i < MAX_ALLOCS; i++) {
            if (allocs[i].key != 0) continue;
            *key = next_addr;
            next_addr += (bytes + 0xfffff) & ~0xfffffULL;
            allocs[i] = (alloc){*key, bytes, dev, kind};
            devs[dev].used += bytes;
            rc = CUDA_SUCCESS;
            break;
        }
    }
    pthread_mutex_unlock(&allocs_mu);
    return rc;
}

static CUresult fake_free(uint64_t key, int kind) {
    CUresult rc = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&allocs_mu);
    for (int i = 0; i < MAX_ALLOCS; i++) {
        if (allocs[i].key == key && allocs[i].kind == kind) {
            devs[allocs[i].dev].used -= allocs[i].bytes;
            allocs[i].key = 0;
            rc = CUDA_SUCCESS;
            break;
        }
    }
    pthread_mutex_unlock(&allocs_mu);
    return rc;
}

EXPORT uint64_t fakeGpuUsedBytes(int dev) {
    pthread_mutex_lock(&allocs_mu);
    uint64_t used = dev >= 0 && dev < MAX_DEV ? devs[dev].used : 0;
    pthread_mutex_unlock(&allocs_mu);
    return used;
}

EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytes) {
    COUNT(cuMemAlloc);
    unsigned long long key;
    CUresult rc = fake_alloc(current, bytes, 1, &key);
    if (rc == CUDA_SUCCESS) *dptr = (CUdeviceptr_v1)(key >> 20); /* fits 32 bits; unique per allocation */
    if (rc == CUDA_SUCCESS) {
        pthread_mutex_lock(&allocs_mu);
        for (int i = 0; i < MAX_ALLOCS; i++)
            if (allocs[i].key == key) allocs[i].key = *dptr;
        pthread_mutex_unlock(&allocs_mu);
    }
    return rc;
}
EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes) {
    COUNT(cuMemAlloc_v2);
    return fake_alloc(current, bytes, 1, dptr);
}
EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elem) {
    COUNT(cuMemAllocPitch_v2);
    (void)elem;
    *pitch = (width + 255) & ~(size_t)255;
    return fake_alloc(current, (uint64_t)*pitch * height, 1, dptr);
}
EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags) {
    COUNT(cuMemAllocManaged);
    (void)flags;
    return fake_alloc(current, bytes, 1, dptr);
}
EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytes, CUstream stream) {
    COUNT(cuMemAllocAsync);
    (void)stream;
    return fake_alloc(current, bytes, 1, dptr);
}
EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream stream) {
    COUNT(cuMemAllocFromPoolAsync);
    (void)pool, (void)stream;
    return fake_alloc(current, bytes, 1, dptr);
}
EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t bytes, const CUmemAllocationProp *prop,
                            unsigned long long flags) {
    COUNT(cuMemCreate);
    (void)flags;
    if (prop == NULL) return CUDA_ERROR_INVALID_VALUE;
    int dev = prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE ? prop->location.id : 0;
    return fake_alloc(dev, bytes, 2, h);
}
EXPORT CUresult cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *desc) {
    COUNT(cuArrayCreate_v2);
    unsigned long long key;
    CUresult rc = fake_alloc(current, (uint64_t)desc->Width * (desc->Height ? desc->Height : 1) * 4, 3, &key);
    if (rc == CUDA_SUCCESS) *a = (CUarray)(uintptr_t)key;
    return rc;
}
EXPORT CUresult cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *desc) {
    COUNT(cuArray3DCreate_v2);
    unsigned long long key;
    uint64_t bytes = (uint64_t)desc->Width * (desc->Height ? desc->Height : 1) * (desc->Depth ? desc->Depth : 1) * 4;
    CUresult rc = fake_alloc(current, bytes, 3, &key);
    if (rc == CUDA_SUCCESS) *a = (CUarray)(uintptr_t)key;
    return rc;
}
EXPORT CUresult cuMemFree(CUdeviceptr_v1 p) { return fake_free(p, 1); }
EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
    COUNT(cuMemFree_v2);
    return fake_free(p, 1);
}
EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) {
    COUNT(cuMemFreeAsync);
    (void)s;
    return fake_free(p, 1);
}
EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h) {
    COUNT(cuMemRelease);
    return fake_free(h, 2);
}
EXPORT CUresult cuArrayDestroy(CUarray a) {
    COUNT(cuArrayDestroy);
    return fake_free((uint64_t)(uintptr_t)a, 3);
}
EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes) {
    if (current < 0) return CUDA_ERROR_INVALID_CONTEXT;
    *total_bytes = total;
    *free_bytes = total - fakeGpuUsedBytes(current);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuMemGetInfo(unsigned int *free_bytes, unsigned int *total_bytes) {
    size_t f, t;
    CUresult rc = cuMemGetInfo_v2(&f, &t);
    *free_bytes = f > 0xffffffffu ? 0xffffffffu : (unsigned)f;
    *total_bytes = t > 0xffffffffu ? 0xffffffffu : (unsigned)t;
    return rc;
}
EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = total;
    return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev) {
    if (dev < 0 || dev >= count) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = total > 0xffffffffu ? 0xffffffffu : (unsigned)total;
    return CUDA_SUCCESS;
}

/* ---- kernels as busy time ---- */
static CUresult run(uint64_t ns) {
    if (current < 0) return CUDA_ERROR_INVALID_CONTEXT;
    ft_enqueue(current, ns);
    return CUDA_SUCCESS;
}

EXPORT uint64_t fakeGpuBusyNs(int dev) { return dev >= 0 && dev < count ? ft_busy(dev) : 0; }
EXPORT uint64_t fakeGpuProcessBusyNs(int dev, int pid) {
    return dev >= 0 && dev < count ? ft_process_busy(dev, pid) : 0;
}
EXPORT int fakeGpuProcesses(int dev, int *pids, uint64_t *since_ns, int max) {
    return dev >= 0 && dev < count ? ft_processes(dev, pids, since_ns, max) : 0;
}

static uint64_t blocks(unsigned gx, unsigned gy, unsigned gz) { return (uint64_t)gx * gy * gz; }

/* NULL stands for "some kernel" in the tests that need none; anything else must be a real handle. */
#define FUNCTION_OK(f)                                                   \
    do {                                                                 \
        if ((f) != NULL && !fm_function_ok(f)) return CUDA_ERROR_INVALID_HANDLE; \
    } while (0)

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shmem, CUstream s, void **params, void **extra) {
    COUNT(cuLaunchKernel);
    (void)bx, (void)by, (void)bz, (void)shmem, (void)s, (void)params, (void)extra;
    FUNCTION_OK(f);
    return run(blocks(gx, gy, gz) * ns_per_block);
}
EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *c, CUfunction f, void **params, void **extra) {
    COUNT(cuLaunchKernelEx);
    (void)params, (void)extra;
    FUNCTION_OK(f);
    return run(blocks(c->gridDimX, c->gridDimY, c->gridDimZ) * ns_per_block);
}
EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                          unsigned by, unsigned bz, unsigned shmem, CUstream s, void **params) {
    COUNT(cuLaunchCooperativeKernel);
    (void)bx, (void)by, (void)bz, (void)shmem, (void)s, (void)params;
    FUNCTION_OK(f);
    return run(blocks(gx, gy, gz) * ns_per_block);
}
EXPORT CUresult cuGraphLaunch(CUgraphExec g, CUstream s) {
    COUNT(cuGraphLaunch);
    (void)g, (void)s;
    return run(graph_ns);
}

/* ---- entry points by name, as the CUDA runtime asks for them ---- */
typedef struct {
    const char *name;
    void *fn;
} named;

#define N(f) {#f, (void *)&f}
static const named table[] = {
    N(cuInit), N(cuDriverGetVersion), N(cuDeviceGetCount), N(cuDeviceGet), N(cuDeviceGetUuid),
    N(cuCtxCreate_v2), N(cuCtxSetCurrent), N(cuCtxGetDevice), N(cuCtxSynchronize),
    N(cuMemAlloc), N(cuMemAlloc_v2), N(cuMemAllocPitch_v2), N(cuMemAllocManaged), N(cuMemAllocAsync),
    N(cuMemAllocFromPoolAsync), N(cuMemCreate), N(cuArrayCreate_v2), N(cuArray3DCreate_v2), N(cuMemFree),
    N(cuMemFree_v2), N(cuMemFreeAsync), N(cuMemRelease), N(cuArrayDestroy), N(cuMemGetInfo), N(cuMemGetInfo_v2),
    N(cuDeviceTotalMem), N(cuDeviceTotalMem_v2), N(cuLaunchKernel), N(cuLaunchKernelEx),
    N(cuLaunchCooperativeKernel), N(cuGraphLaunch),
};
#undef N

EXPORT void *fakeCudaDirect(const char *name) {
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].name, name) == 0) return table[i].fn;
    return NULL;
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags) {
    (void)flags;
    char versioned[128];
    /* Since CUDA 3.2 the unsuffixed names mean their _v2 variants. */
    if (version >= 3020 && strlen(symbol) < 100) {
        strcpy(versioned, symbol);
        strcat(versioned, "_v2");
        *pfn = fakeCudaDirect(versioned);
        if (*pfn != NULL) return CUDA_SUCCESS;
    }
    if (strcmp(symbol, "cuGetProcAddress") == 0) {
        *pfn = (void *)&cuGetProcAddress;
        return CUDA_SUCCESS;
    }
    *pfn = fakeCudaDirect(symbol);
    return *pfn != NULL ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags, int *status) {
    CUresult rc = cuGetProcAddress(symbol, pfn, version, flags);
    if (status != NULL) *status = rc == CUDA_SUCCESS ? 0 : 1;
    return rc;
}

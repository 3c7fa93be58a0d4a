/* Memory-limit scenarios, one per argv[1], each run by native.test.ts under LD_PRELOAD with a
 * config it wrote. argv[2] is the byte figure the scenario works with (usually the limit);
 * argv[3], optional, the CUDA ordinal to work on (0). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "region.h"

typedef int (*describe_fn)(char *, size_t);

static void limit(uint64_t L) {
    uint64_t chunk = L / 4;
    CUdeviceptr p[4];
    for (int i = 0; i < 4; i++) CU_OK(cuMemAlloc_v2(&p[i], chunk));
    CUdeviceptr extra;
    CU_OOM(cuMemAlloc_v2(&extra, L - 4 * chunk + 1));
    CHECK(fakeCudaCalls("cuMemAlloc_v2") == 4, "a refused allocation reached the driver");
    CUdeviceptr_v1 small;
    CU_OOM(cuMemAlloc(&small, 1));
    CU_OK(cuMemFree_v2(p[2]));
    CU_OK(cuMemAlloc_v2(&p[2], chunk));
    CU_OOM(cuMemAlloc_v2(&extra, L - 4 * chunk + 1));
    for (int i = 0; i < 4; i++) CU_OK(cuMemFree_v2(p[i]));
    CU_OK(cuMemAlloc_v2(&extra, L));
    CU_OK(cuMemFree_v2(extra));
}

/* Fills half the limit through one path, proves the other half is all that is left, frees it
 * through the matching free and proves the whole limit is back. */
static void over_half(uint64_t L, const char *path) {
    CUdeviceptr probe;
    CU_OOM(cuMemAlloc_v2(&probe, L / 2 + 1));
    CU_OK(cuMemAlloc_v2(&probe, L / 2));
    CU_OK(cuMemFree_v2(probe));
    (void)path;
}

static void whole_limit_back(uint64_t L) {
    CUdeviceptr probe;
    CU_OK(cuMemAlloc_v2(&probe, L));
    CU_OK(cuMemFree_v2(probe));
}

static void paths(uint64_t L) {
    uint64_t half = L / 2;
    CUdeviceptr p;

    CU_OK(cuMemAllocManaged(&p, half, 1));
    over_half(L, "managed");
    CU_OK(cuMemFree_v2(p));
    whole_limit_back(L);

    CU_OK(cuMemAllocAsync(&p, half, NULL));
    over_half(L, "async");
    CU_OK(cuMemFreeAsync(p, NULL));
    whole_limit_back(L);

    CU_OK(cuMemAllocFromPoolAsync(&p, half, (CUmemoryPool)0x1, NULL));
    over_half(L, "pool");
    CU_OK(cuMemFreeAsync(p, NULL));
    whole_limit_back(L);

    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof(prop));
    prop.type = 1;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    CUmemGenericAllocationHandle h;
    CU_OK(cuMemCreate(&h, half, &prop, 0));
    over_half(L, "vmm");
    CU_OK(cuMemRelease(h));
    whole_limit_back(L);

    /* Host-located VMM memory is not GPU memory: not charged. */
    prop.location.type = 2;
    CU_OK(cuMemCreate(&h, L, &prop, 0));
    whole_limit_back(L);
    CU_OK(cuMemRelease(h));

    size_t pitch;
    CU_OK(cuMemAllocPitch_v2(&p, &pitch, 1024, half / 1024, 4));
    over_half(L, "pitch");
    CU_OK(cuMemFree_v2(p));
    whole_limit_back(L);

    CUarray a;
    CUDA_ARRAY_DESCRIPTOR d2 = {.Width = 1024, .Height = half / 4096, .Format = 0x20, .NumChannels = 1};
    CU_OK(cuArrayCreate_v2(&a, &d2));
    over_half(L, "array");
    CU_OK(cuArrayDestroy(a));
    whole_limit_back(L);

    CUDA_ARRAY3D_DESCRIPTOR d3 = {.Width = 1024, .Height = 64, .Depth = half / (4096 * 64), .Format = 0x20,
                                  .NumChannels = 1};
    CU_OK(cuArray3DCreate_v2(&a, &d3));
    over_half(L, "array3d");
    CU_OK(cuArrayDestroy(a));
    whole_limit_back(L);

    /* Over the limit on each path is refused before the driver sees it. */
    uint64_t before = fakeCudaCalls("cuMemCreate");
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    CU_OOM(cuMemCreate(&h, L + 1, &prop, 0));
    CHECK(fakeCudaCalls("cuMemCreate") == before, "refused cuMemCreate reached the driver");
    CU_OOM(cuMemAllocAsync(&p, L + 1, NULL));
    CU_OOM(cuMemAllocFromPoolAsync(&p, L + 1, (CUmemoryPool)0x1, NULL));
    CU_OOM(cuMemAllocManaged(&p, L + 1, 1));
}

static void info(uint64_t L) {
    CUdeviceptr p;
    CU_OK(cuMemAlloc_v2(&p, L / 4));
    size_t free_b, total_b;
    CU_OK(cuMemGetInfo_v2(&free_b, &total_b));
    CHECK(total_b == L && free_b == L - L / 4, "cuMemGetInfo_v2: free %zu total %zu", free_b, total_b);
    CU_OK(cuDeviceTotalMem_v2(&total_b, 0));
    CHECK(total_b == L, "cuDeviceTotalMem_v2: %zu", total_b);

    nvmlDevice_t dev;
    CHECK(nvmlInit_v2() == NVML_SUCCESS, "nvmlInit_v2");
    CHECK(nvmlDeviceGetHandleByIndex_v2(0, &dev) == NVML_SUCCESS, "handle");
    nvmlMemory_t m;
    CHECK(nvmlDeviceGetMemoryInfo(dev, &m) == NVML_SUCCESS, "nvmlDeviceGetMemoryInfo");
    CHECK(m.total == L && m.used == L / 4 && m.free == L - L / 4, "NVML v1: total %llu used %llu free %llu", m.total,
          m.used, m.free);
    nvmlMemory_v2_t m2 = {.version = 2};
    CHECK(nvmlDeviceGetMemoryInfo_v2(dev, &m2) == NVML_SUCCESS, "nvmlDeviceGetMemoryInfo_v2");
    CHECK(m2.total == L && m2.used == L / 4 && m2.free == L - L / 4 && m2.reserved == 0,
          "NVML v2: total %llu used %llu free %llu", m2.total, m2.used, m2.free);
    printf("total=%zu free=%zu\n", total_b, free_b);
}

typedef CUresult (*alloc_fn)(CUdeviceptr *, size_t);
typedef CUresult (*free_fn)(CUdeviceptr);
typedef CUresult (*gpa_fn)(const char *, void **, int, cuuint64_t);
typedef CUresult (*gpa2_fn)(const char *, void **, int, cuuint64_t, int *);
typedef nvmlReturn_t (*meminfo_fn)(nvmlDevice_t, nvmlMemory_t *);

static void limited(alloc_fn a, free_fn f, uint64_t L, const char *how) {
    CUdeviceptr p, q;
    CHECK(a != NULL && f != NULL, "%s: no function", how);
    CHECK(a(&p, L) == CUDA_SUCCESS, "%s: allocating the limit failed", how);
    CHECK(a(&q, 1) == CUDA_ERROR_OUT_OF_MEMORY, "%s: allocation past the limit was not refused", how);
    CHECK(f(p) == CUDA_SUCCESS, "%s: free failed", how);
}

static void lookup(uint64_t L) {
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
    CHECK(cuda != NULL, "dlopen libcuda.so.1");
    limited((alloc_fn)dlsym(cuda, "cuMemAlloc_v2"), (free_fn)dlsym(cuda, "cuMemFree_v2"), L, "dlsym(handle)");
    limited((alloc_fn)dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"), (free_fn)dlsym(RTLD_DEFAULT, "cuMemFree_v2"), L,
            "dlsym(RTLD_DEFAULT)");

    gpa_fn gpa = (gpa_fn)dlsym(cuda, "cuGetProcAddress");
    CHECK(gpa != NULL, "dlsym cuGetProcAddress");
    void *a = NULL, *f = NULL;
    CU_OK(gpa("cuMemAlloc", &a, 12000, 0));
    CU_OK(gpa("cuMemFree", &f, 12000, 0));
    limited((alloc_fn)a, (free_fn)f, L, "cuGetProcAddress");

    gpa2_fn gpa2 = (gpa2_fn)dlsym(cuda, "cuGetProcAddress_v2");
    CHECK(gpa2 != NULL, "dlsym cuGetProcAddress_v2");
    int status = -1;
    CU_OK(gpa2("cuMemAlloc", &a, 12000, 0, &status));
    CU_OK(gpa2("cuMemFree", &f, 12000, 0, &status));
    limited((alloc_fn)a, (free_fn)f, L, "cuGetProcAddress_v2");

    /* cuGetProcAddress can hand out cuGetProcAddress; that one must be ours as well. */
    void *again = NULL;
    CU_OK(gpa("cuGetProcAddress", &again, 12000, 0));
    CU_OK(((gpa_fn)again)("cuMemAlloc", &a, 12000, 0));
    limited((alloc_fn)a, (free_fn)f, L, "cuGetProcAddress via cuGetProcAddress");

    /* Functions we do not hook come back untouched: the driver's own. */
    CHECK(dlsym(cuda, "cuCtxSynchronize") == fakeCudaDirect("cuCtxSynchronize"), "cuCtxSynchronize was wrapped");
    void *sync = NULL;
    CU_OK(gpa("cuCtxSynchronize", &sync, 12000, 0));
    CHECK(sync == fakeCudaDirect("cuCtxSynchronize"), "cuGetProcAddress wrapped cuCtxSynchronize");

    void *nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    CHECK(nvml != NULL, "dlopen libnvidia-ml.so.1");
    meminfo_fn mi = (meminfo_fn)dlsym(nvml, "nvmlDeviceGetMemoryInfo");
    nvmlDevice_t dev;
    CHECK(nvmlInit_v2() == NVML_SUCCESS && nvmlDeviceGetHandleByIndex_v2(0, &dev) == NVML_SUCCESS, "nvml");
    nvmlMemory_t m;
    CHECK(mi != NULL && mi(dev, &m) == NVML_SUCCESS && m.total == L, "NVML through dlsym shows %llu", m.total);
}

static void passthrough(uint64_t L) {
    CUdeviceptr p;
    CU_OK(cuMemAlloc_v2(&p, 2 * L));
    size_t free_b, total_b;
    CU_OK(cuMemGetInfo_v2(&free_b, &total_b));
    CHECK(total_b == fakeGpuTotalBytes(), "total %zu is not the device's", total_b);
    CU_OK(cuMemFree_v2(p));
}

/* A forked child is a process of its own: it gets its own slot, shares the limit, and what it
 * leaves behind when it exits is reclaimed. L/2 + L/4 is used when the parent asks for 3L/8. */
static void forked(uint64_t L) {
    CUdeviceptr p;
    CU_OK(cuMemAlloc_v2(&p, L / 2));
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        CUdeviceptr q;
        if (cuMemAlloc_v2(&q, L / 2 + 1) != CUDA_ERROR_OUT_OF_MEMORY) _exit(10);
        if (cuMemAlloc_v2(&q, L / 4) != CUDA_SUCCESS) _exit(11);
        _exit(0); /* without freeing: the parent must get it back */
    }
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed with %d", WEXITSTATUS(status));
    CUdeviceptr q;
    CU_OK(cuMemAlloc_v2(&q, L / 2 - L / 8));
}

/* Another process's move, played by this one: map the region the library uses (TAMPER_REGION)
 * and zero every recorded use, as if to free the container's share. The library must notice its
 * slot was rewritten, restore it from its own record, and still refuse what the limit does not hold. */
static void tamper(uint64_t L) {
    CUdeviceptr held, more;
    CU_OK(cuMemAlloc_v2(&held, L / 2));
    const char *path = getenv("TAMPER_REGION");
    CHECK(path != NULL, "TAMPER_REGION is not set");
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "cannot open %s", path);
    lw_region *r = mmap(NULL, sizeof(lw_region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(r != MAP_FAILED, "cannot map %s", path);
    close(fd);
    memset(r->used, 0, sizeof(r->used));
    for (int i = 0; i < LW_MAX_SLOTS; i++) memset(r->slots[i].used, 0, sizeof(r->slots[i].used));
    CU_OOM(cuMemAlloc_v2(&more, L / 2 + 1));
    CU_OK(cuMemAlloc_v2(&more, L / 2));
    CU_OK(cuMemFree_v2(held));
    CU_OK(cuMemFree_v2(more));
    whole_limit_back(L);
}

static int try_alloc(uint64_t bytes) {
    CUdeviceptr p;
    CUresult rc = cuMemAlloc_v2(&p, bytes);
    if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
        printf("refused\n");
        return 3;
    }
    CHECK(rc == CUDA_SUCCESS, "cuMemAlloc_v2 returned %d", rc);
    printf("allocated\n");
    return 0;
}

int main(int argc, char **argv) {
    CHECK(argc == 3 || argc == 4, "usage: t_memory SCENARIO BYTES [ORDINAL]");
    const char *what = argv[1];
    uint64_t bytes = strtoull(argv[2], NULL, 10);
    setvbuf(stdout, NULL, _IONBF, 0);
    context_on(argc == 4 ? atoi(argv[3]) : 0);
    if (strcmp(what, "limit") == 0) limit(bytes);
    else if (strcmp(what, "paths") == 0) paths(bytes);
    else if (strcmp(what, "info") == 0) info(bytes);
    else if (strcmp(what, "lookup") == 0) lookup(bytes);
    else if (strcmp(what, "passthrough") == 0) passthrough(bytes);
    else if (strcmp(what, "fork") == 0) forked(bytes);
    else if (strcmp(what, "tamper") == 0) tamper(bytes);
    else if (strcmp(what, "try") == 0) return try_alloc(bytes);
    else if (strcmp(what, "hold") == 0) {
        CUdeviceptr p;
        CU_OK(cuMemAlloc_v2(&p, bytes));
        printf("held\n");
        park();
        return 0;
    } else if (strcmp(what, "lock") == 0) {
        int (*hold)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "loadwise_vgpu_test_hold_lock");
        CHECK(hold != NULL && hold() == 0, "could not take the shared lock");
        printf("locked\n");
        park();
        return 0;
    } else if (strcmp(what, "describe") == 0) {
        describe_fn describe = (describe_fn)dlsym(RTLD_DEFAULT, "loadwise_vgpu_describe");
        CHECK(describe != NULL, "the library is not loaded");
        char buf[4096];
        describe(buf, sizeof(buf));
        fputs(buf, stdout);
        return 0;
    } else CHECK(0, "unknown scenario %s", what);
    printf("ok\n");
    return 0;
}

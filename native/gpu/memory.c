/* The memory limit against whichever driver is loaded (driver.h): argv[1] is the container's limit
 * in bytes, argv[2] the allocation size (a multiple of 2 MiB, the VMM granularity). Checks, in
 * order, printing one line per check passed:
 *   info    cuMemGetInfo shows the share: total = limit, free = limit
 *   alloc   limit/chunk cuMemAlloc succeed, one more fails with CUDA_ERROR_OUT_OF_MEMORY
 *   free    freeing one makes room for exactly one again; freeing all restores free = limit
 *   procaddr the same through cuMemAlloc/cuMemFree fetched with cuGetProcAddress(_v2)
 *   vmm     cuMemCreate is counted: limit/chunk succeed, one more fails, and so does cuMemAlloc */
#include <string.h>

#include "driver.h"

#define MAX_CHUNKS 4096

typedef CUresult (*alloc_fn)(CUdeviceptr *, size_t);
typedef CUresult (*free_fn)(CUdeviceptr);

static size_t limit, chunk, n;

static void expect_info(size_t want_free) {
    size_t free_b = 0, total_b = 0;
    CU_OK(cu.cuMemGetInfo_v2(&free_b, &total_b));
    CHECK(total_b == limit, "cuMemGetInfo total %zu, want the limit %zu", total_b, limit);
    CHECK(free_b == want_free, "cuMemGetInfo free %zu, want %zu", free_b, want_free);
}

/* Fills the limit with `alloc`, checks the next one is refused, and returns the pointers. */
static void fill(alloc_fn alloc, CUdeviceptr *p, const char *what) {
    for (size_t i = 0; i < n; i++) {
        CUresult rc = alloc(&p[i], chunk);
        CHECK(rc == CUDA_SUCCESS, "%s %zu of %zu (%zu bytes each) returned %d", what, i + 1, n, chunk, rc);
    }
    CUdeviceptr extra;
    CUresult rc = alloc(&extra, chunk);
    CHECK(rc == CUDA_ERROR_OUT_OF_MEMORY, "%s beyond the limit returned %d, want %d", what, rc,
          CUDA_ERROR_OUT_OF_MEMORY);
}

static void *proc_address(const char *name) {
    void *f = NULL;
    if (cu.cuGetProcAddress_v2 != NULL) {
        int status = 0;
        CU_OK(cu.cuGetProcAddress_v2(name, &f, 12000, 0, &status));
    } else {
        CU_OK(cu.cuGetProcAddress(name, &f, 11030, 0));
    }
    CHECK(f != NULL, "cuGetProcAddress(%s) gave NULL", name);
    return f;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: gpu_memory LIMIT_BYTES CHUNK_BYTES");
    limit = strtoull(argv[1], NULL, 10);
    chunk = strtoull(argv[2], NULL, 10);
    CHECK(chunk > 0 && chunk % (2u << 20) == 0 && limit % chunk == 0, "limit must be a multiple of chunk, a "
                                                                       "multiple of 2 MiB");
    n = limit / chunk;
    CHECK(n < MAX_CHUNKS, "too many chunks");
    static CUdeviceptr p[MAX_CHUNKS];
    gpu_open(0);

    expect_info(limit);
    printf("info total=%zu free=%zu\n", limit, limit);

    fill(cu.cuMemAlloc_v2, p, "cuMemAlloc_v2");
    expect_info(0);
    printf("alloc allocations=%zu refused=CUDA_ERROR_OUT_OF_MEMORY\n", n);

    CU_OK(cu.cuMemFree_v2(p[0]));
    expect_info(chunk);
    CU_OK(cu.cuMemAlloc_v2(&p[0], chunk));
    CUdeviceptr extra;
    CHECK(cu.cuMemAlloc_v2(&extra, chunk) == CUDA_ERROR_OUT_OF_MEMORY, "a freed chunk made room for two");
    for (size_t i = 0; i < n; i++) CU_OK(cu.cuMemFree_v2(p[i]));
    expect_info(limit);
    printf("free returned=%zu\n", limit);

    alloc_fn alloc = (alloc_fn)proc_address("cuMemAlloc");
    free_fn release = (free_fn)proc_address("cuMemFree");
    fill(alloc, p, "cuMemAlloc from cuGetProcAddress");
    for (size_t i = 0; i < n; i++) CU_OK(release(p[i]));
    expect_info(limit);
    printf("procaddr allocations=%zu refused=CUDA_ERROR_OUT_OF_MEMORY\n", n);

    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof(prop));
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    static CUmemGenericAllocationHandle h[MAX_CHUNKS];
    for (size_t i = 0; i < n; i++) {
        CUresult rc = cu.cuMemCreate(&h[i], chunk, &prop, 0);
        CHECK(rc == CUDA_SUCCESS, "cuMemCreate %zu of %zu returned %d", i + 1, n, rc);
    }
    CUmemGenericAllocationHandle hx;
    CUresult rc = cu.cuMemCreate(&hx, chunk, &prop, 0);
    CHECK(rc == CUDA_ERROR_OUT_OF_MEMORY, "cuMemCreate beyond the limit returned %d", rc);
    rc = cu.cuMemAlloc_v2(&extra, chunk);
    CHECK(rc == CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2 after cuMemCreate filled the limit returned %d", rc);
    expect_info(0);
    for (size_t i = 0; i < n; i++) CU_OK(cu.cuMemRelease(h[i]));
    expect_info(limit);
    printf("vmm allocations=%zu refused=CUDA_ERROR_OUT_OF_MEMORY\n", n);
    return 0;
}

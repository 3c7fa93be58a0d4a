/* Added cost of the hooks: the same fake-driver functions called straight (through the fake's own
 * function pointers, past every interposer) and through the preloaded hooks, in the same process,
 * interleaved over several rounds; the median of each is printed as ns per call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_gpu.h"
#include "hooks.h"

CUresult cuInit(unsigned int flags);
CUresult cuCtxCreate_v2(CUcontext *ctx, unsigned int flags, CUdevice dev);

#define ROUNDS 7

typedef CUresult (*launch_fn)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                              CUstream, void **, void **);
typedef CUresult (*alloc_fn)(CUdeviceptr *, size_t);
typedef CUresult (*free_fn)(CUdeviceptr);

static double launches(launch_fn f, long n) {
    uint64_t t0 = fakeNowNs();
    for (long i = 0; i < n; i++)
        if (f(NULL, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) != CUDA_SUCCESS) abort();
    return (double)(fakeNowNs() - t0) / (double)n;
}

static double allocs(alloc_fn a, free_fn f, long n) {
    uint64_t t0 = fakeNowNs();
    for (long i = 0; i < n; i++) {
        CUdeviceptr p;
        if (a(&p, 1 << 20) != CUDA_SUCCESS || f(p) != CUDA_SUCCESS) abort();
    }
    return (double)(fakeNowNs() - t0) / (double)n;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, ROUNDS, sizeof(double), by_value);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    CUcontext ctx;
    if (cuInit(0) != CUDA_SUCCESS || cuCtxCreate_v2(&ctx, 0, 0) != CUDA_SUCCESS) return 1;
    launch_fn direct_launch = (launch_fn)fakeCudaDirect("cuLaunchKernel");
    alloc_fn direct_alloc = (alloc_fn)fakeCudaDirect("cuMemAlloc_v2");
    free_fn direct_free = (free_fn)fakeCudaDirect("cuMemFree_v2");
    int hooked = dlsym(RTLD_DEFAULT, "loadwise_vgpu_describe") != NULL;

    double ld[ROUNDS], lh[ROUNDS], ad[ROUNDS], ah[ROUNDS];
    launches(cuLaunchKernel, n / 10); /* warm-up: resolves symbols, starts the sampler */
    allocs(cuMemAlloc_v2, cuMemFree_v2, n / 100);
    for (int r = 0; r < ROUNDS; r++) {
        ld[r] = launches(direct_launch, n);
        lh[r] = launches(cuLaunchKernel, n);
        ad[r] = allocs(direct_alloc, direct_free, n / 10);
        ah[r] = allocs(cuMemAlloc_v2, cuMemFree_v2, n / 10);
    }
    if (getenv("BENCH_DESCRIBE") != NULL && hooked) {
        char buf[2048];
        ((int (*)(char *, size_t))dlsym(RTLD_DEFAULT, "loadwise_vgpu_describe"))(buf, sizeof(buf));
        fputs(buf, stderr);
    }
    double l_direct = median(ld), l_hooked = median(lh), a_direct = median(ad), a_hooked = median(ah);
    printf("preloaded=%d launch_direct_ns=%.1f launch_hooked_ns=%.1f launch_added_ns=%.1f "
           "alloc_free_direct_ns=%.1f alloc_free_hooked_ns=%.1f alloc_free_added_ns=%.1f\n",
           hooked, l_direct, l_hooked, l_hooked - l_direct, a_direct, a_hooked, a_hooked - a_direct);
    return 0;
}

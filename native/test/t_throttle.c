/* Launches kernels on the fake GPU as fast as it accepts them for argv[1] seconds and prints the
 * GPU's average utilisation over that time, read from the fake's kernel timeline.
 * argv[2] picks the entry point: kernel, ex, coop, graph, or mix (all four in turn). */
#include <string.h>

#include "check.h"

static CUresult launch(const char *kind, unsigned long i, unsigned blocks) {
    static const char *const order[] = {"kernel", "ex", "coop", "graph"};
    if (strcmp(kind, "mix") == 0) kind = order[i % 4];
    if (strcmp(kind, "kernel") == 0) return cuLaunchKernel(NULL, blocks, 1, 1, 128, 1, 1, 0, NULL, NULL, NULL);
    if (strcmp(kind, "coop") == 0) return cuLaunchCooperativeKernel(NULL, blocks, 1, 1, 128, 1, 1, 0, NULL, NULL);
    if (strcmp(kind, "graph") == 0) return cuGraphLaunch(NULL, NULL);
    CUlaunchConfig c = {.gridDimX = blocks, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 128, .blockDimY = 1,
                        .blockDimZ = 1};
    return cuLaunchKernelEx(&c, NULL, NULL, NULL);
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: t_throttle SECONDS KIND");
    double seconds = strtod(argv[1], NULL);
    context_on(0);
    uint64_t start = fakeNowNs(), busy_start = fakeGpuBusyNs(0);
    uint64_t stop = start + (uint64_t)(seconds * 1e9);
    /* A second average leaves out the first quarter second, where the throttle still calibrates. */
    uint64_t settled = start + 250000000ULL, settled_at = 0, busy_settled = 0;
    unsigned long launches = 0;
    for (uint64_t now = start; now < stop; now = fakeNowNs()) {
        if (settled_at == 0 && now >= settled) settled_at = now, busy_settled = fakeGpuBusyNs(0);
        CU_OK(launch(argv[2], launches, 100));
        launches++;
    }
    CU_OK(cuCtxSynchronize());
    uint64_t end = fakeNowNs(), busy_end = fakeGpuBusyNs(0);
    double util = 100.0 * (double)(busy_end - busy_start) / (double)(end - start);
    double steady = settled_at ? 100.0 * (double)(busy_end - busy_settled) / (double)(end - settled_at) : util;
    printf("util=%.2f steady=%.2f launches=%lu seconds=%.2f\n", util, steady, launches, (double)(end - start) / 1e9);
    return 0;
}

/* Per-launch cost against whichever driver is loaded (driver.h): ROUNDS rounds of COUNT launches of
 * spin(0) on one block, the time of the launch calls alone (the wait for the GPU to drain between
 * rounds is not counted), and the median round's ns per launch. Run once with the library preloaded
 * and once without; the difference is what the hook adds. */
#include "driver.h"

#define MAX_ROUNDS 101

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: gpu_launch COUNT ROUNDS");
    long count = atol(argv[1]);
    int rounds = atoi(argv[2]);
    CHECK(count > 0 && rounds > 0 && rounds <= MAX_ROUNDS, "COUNT > 0, 0 < ROUNDS <= %d", MAX_ROUNDS);
    gpu_open(0);
    CUfunction spin = gpu_spin_kernel();
    double per[MAX_ROUNDS];
    /* Warm-up: module JIT, first-launch setup, the library's lazy initialisation. */
    for (long i = 0; i < count; i++) CU_OK(gpu_spin(spin, 1, 32, 0));
    CU_OK(cu.cuCtxSynchronize());
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = gpu_now_ns();
        for (long i = 0; i < count; i++) CU_OK(gpu_spin(spin, 1, 32, 0));
        per[r] = (double)(gpu_now_ns() - t0) / (double)count;
        CU_OK(cu.cuCtxSynchronize());
    }
    qsort(per, (size_t)rounds, sizeof(per[0]), by_value);
    printf("ns_per_launch=%.1f min_ns=%.1f launches=%ld\n", per[rounds / 2], per[0], count * rounds);
    return 0;
}

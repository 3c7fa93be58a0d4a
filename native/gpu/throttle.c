/* Throttle accuracy against whichever driver is loaded (driver.h): launches spin(CYCLES) on GRID
 * blocks ("sm": one per multiprocessor) as fast as the driver and the throttle allow, for SECONDS,
 * and prints the utilisation it got, measured two ways:
 *   util   kernel-time accounting: launches x the kernel's time over the wall time. The kernel's
 *          time is the shortest start-to-end event time seen (events before and after each launch):
 *          a launch the throttle held back shows the wait too, one it let straight through does not,
 *          and the spin kernel's own time does not vary
 *   nvml   the mean of NVML's device utilisation read every 100 ms: the whole device, so with
 *          several processes sharing a limit it is their combined use
 * plus nvml_steady (the reads after the first 0.5 s, once the throttle has calibrated), the
 * launch count and the mean kernel time. */
#include <string.h>

#include "driver.h"

/* Pairs of events in flight; reusing a pair waits for its kernel, which also bounds the queue. */
#define RING 64
#define NVML_PERIOD_NS 100000000ULL
#define SETTLE_NS 500000000ULL

static CUevent start_ev[RING], end_ev[RING];
static double kernel_ms = 1e30;

static void collect(int slot) {
    float ms = 0;
    CU_OK(cu.cuEventSynchronize(end_ev[slot]));
    CU_OK(cu.cuEventElapsedTime(&ms, start_ev[slot], end_ev[slot]));
    if (ms < kernel_ms) kernel_ms = ms;
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: gpu_throttle SECONDS CYCLES GRID|sm");
    double seconds = strtod(argv[1], NULL);
    unsigned long long cycles = strtoull(argv[2], NULL, 10);
    gpu_open(1);
    unsigned grid = strcmp(argv[3], "sm") == 0 ? gpu_sm_count() : (unsigned)strtoul(argv[3], NULL, 10);
    CHECK(grid > 0 && seconds > 0, "grid and seconds must be positive");
    CUfunction spin = gpu_spin_kernel();
    nvmlDevice_t nd = gpu_nvml_device();
    for (int i = 0; i < RING; i++) {
        CU_OK(cu.cuEventCreate(&start_ev[i], 0));
        CU_OK(cu.cuEventCreate(&end_ev[i], 0));
    }

    nvmlUtilization_t u;
    /* Opens NVML's window (the fake's is "since the last read"; the real one's is its own). */
    CHECK(nv.nvmlDeviceGetUtilizationRates(nd, &u) == NVML_SUCCESS, "NVML utilisation unavailable");
    uint64_t start = gpu_now_ns(), stop = start + (uint64_t)(seconds * 1e9), next_read = start + NVML_PERIOD_NS;
    double nvml_sum = 0, steady_sum = 0;
    unsigned long launches = 0, reads = 0, steady_reads = 0;
    for (uint64_t now = start; now < stop; now = gpu_now_ns()) {
        int slot = (int)(launches % RING);
        if (launches >= RING) collect(slot);
        CU_OK(cu.cuEventRecord(start_ev[slot], NULL));
        CU_OK(gpu_spin(spin, grid, 128, cycles));
        CU_OK(cu.cuEventRecord(end_ev[slot], NULL));
        launches++;
        if (now >= next_read) {
            next_read += NVML_PERIOD_NS;
            CHECK(nv.nvmlDeviceGetUtilizationRates(nd, &u) == NVML_SUCCESS, "NVML utilisation unavailable");
            nvml_sum += u.gpu, reads++;
            if (now - start >= SETTLE_NS) steady_sum += u.gpu, steady_reads++;
        }
    }
    CU_OK(cu.cuCtxSynchronize());
    for (unsigned long i = launches > RING ? launches - RING : 0; i < launches; i++) collect((int)(i % RING));
    uint64_t end = gpu_now_ns();
    double wall_ms = (double)(end - start) / 1e6, busy_ms = kernel_ms * (double)launches;
    printf("util=%.2f nvml=%.2f nvml_steady=%.2f launches=%lu kernel_us=%.1f grid=%u seconds=%.2f\n",
           100.0 * busy_ms / wall_ms, reads ? nvml_sum / (double)reads : -1,
           steady_reads ? steady_sum / (double)steady_reads : -1, launches,
           1000.0 * kernel_ms, grid, wall_ms / 1000);
    return 0;
}

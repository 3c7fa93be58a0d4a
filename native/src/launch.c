/* Launch hooks: every kernel launch pays its thread blocks into the device's token bucket first.
 * A graph's kernels are not visible here, so a graph launch pays the recent average launch; the
 * sampler's capacity measurement absorbs the difference (see throttle.c). */
#include <stdatomic.h>
#include <stdint.h>

#include "devices.h"
#include "hooks.h"
#include "real.h"
#include "state.h"
#include "throttle.h"

static _Atomic uint64_t average_blocks = 1;

static inline void gate(uint64_t blocks) {
    if (!lw_init() || !lw_state.throttled) return;
    int dev = lw_state.only_device >= 0 ? lw_state.only_device : lw_current_device();
    if (dev >= 0) lw_throttle(dev, blocks);
}

static inline uint64_t kernel_blocks(unsigned gx, unsigned gy, unsigned gz) {
    uint64_t blocks = (uint64_t)gx * gy * gz;
    if (blocks == 0) blocks = 1;
    uint64_t avg = atomic_load_explicit(&average_blocks, memory_order_relaxed);
    /* A racy moving average is fine: it only prices graph launches. */
    atomic_store_explicit(&average_blocks, (avg * 7 + blocks + 7) / 8, memory_order_relaxed);
    return blocks;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream, void **params,
                        void **extra) {
    __typeof__(&cuLaunchKernel) real = REAL(cuLaunchKernel);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(kernel_blocks(gx, gy, gz));
    return real(f, gx, gy, gz, bx, by, bz, shmem, stream, params, extra);
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                             unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream, void **params,
                             void **extra) {
    __typeof__(&cuLaunchKernel_ptsz) real = REAL(cuLaunchKernel_ptsz);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(kernel_blocks(gx, gy, gz));
    return real(f, gx, gy, gz, bx, by, bz, shmem, stream, params, extra);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra) {
    __typeof__(&cuLaunchKernelEx) real = REAL(cuLaunchKernelEx);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    if (config != NULL) gate(kernel_blocks(config->gridDimX, config->gridDimY, config->gridDimZ));
    return real(config, f, params, extra);
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **params, void **extra) {
    __typeof__(&cuLaunchKernelEx_ptsz) real = REAL(cuLaunchKernelEx_ptsz);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    if (config != NULL) gate(kernel_blocks(config->gridDimX, config->gridDimY, config->gridDimZ));
    return real(config, f, params, extra);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                   unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream,
                                   void **params) {
    __typeof__(&cuLaunchCooperativeKernel) real = REAL(cuLaunchCooperativeKernel);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(kernel_blocks(gx, gy, gz));
    return real(f, gx, gy, gz, bx, by, bz, shmem, stream, params);
}

CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                        CUstream stream, void **params) {
    __typeof__(&cuLaunchCooperativeKernel_ptsz) real = REAL(cuLaunchCooperativeKernel_ptsz);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(kernel_blocks(gx, gy, gz));
    return real(f, gx, gy, gz, bx, by, bz, shmem, stream, params);
}

CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
    __typeof__(&cuGraphLaunch) real = REAL(cuGraphLaunch);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(atomic_load_explicit(&average_blocks, memory_order_relaxed));
    return real(exec, stream);
}

CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream) {
    __typeof__(&cuGraphLaunch_ptsz) real = REAL(cuGraphLaunch_ptsz);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    gate(atomic_load_explicit(&average_blocks, memory_order_relaxed));
    return real(exec, stream);
}

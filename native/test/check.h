/* Shared by the C test programs: fail loudly with the line, set up a fake-driver context. */
#ifndef LOADWISE_CHECK_H
#define LOADWISE_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_gpu.h"
#include "hooks.h"

CUresult cuInit(unsigned int flags);
CUresult cuCtxCreate_v2(CUcontext *ctx, unsigned int flags, CUdevice dev);
CUresult cuCtxSynchronize(void);
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);

#include "cu_check.h"

#define CU_OOM(call)                                                      \
    do {                                                                  \
        CUresult rc_ = (call);                                            \
        CHECK(rc_ == CUDA_ERROR_OUT_OF_MEMORY, "%s returned %d, wanted 2", #call, rc_); \
    } while (0)

static inline void context_on(int dev) {
    CUcontext ctx;
    CU_OK(cuInit(0));
    CU_OK(cuCtxCreate_v2(&ctx, 0, dev));
}

/* Parks the process until the test closes our stdin (or kills us); gives up after 30 s so a
 * crashed test runner cannot leave it behind. */
static inline void park(void) {
    alarm(30);
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0) {
    }
}

#endif

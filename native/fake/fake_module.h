/* What fake_cuda.c needs from fake_module.c. Internal to the fake. */
#ifndef LOADWISE_FAKE_MODULE_H
#define LOADWISE_FAKE_MODULE_H

#include "../src/cuda_types.h"

/* Whether `f` came from cuModuleGetFunction of a module still loaded. */
__attribute__((visibility("hidden"))) int fm_function_ok(CUfunction f);

#endif

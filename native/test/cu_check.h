/* The checks every C test program uses, against the fake driver (test/) and the real one (gpu/):
 * fail loudly with the file and line, and check a driver call's result. */
#ifndef LOADWISE_CU_CHECK_H
#define LOADWISE_CU_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "cuda_types.h"

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

#define CU_OK(call)                                                       \
    do {                                                                  \
        CUresult rc_ = (call);                                            \
        CHECK(rc_ == CUDA_SUCCESS, "%s returned %d", #call, rc_);         \
    } while (0)

#endif

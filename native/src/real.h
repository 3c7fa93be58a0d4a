/* The functions we wrap, as the next library (libc, the CUDA driver, NVML) defines them. */
#ifndef LOADWISE_REAL_H
#define LOADWISE_REAL_H

/* For code on the dlsym path: the sanitizer runtimes call dlsym while they initialise, before the
 * shadow memory instrumented code checks exists (make sanitize), so that path is not instrumented. */
#define LW_NOT_SANITIZED __attribute__((no_sanitize("address", "undefined")))

#include "hooks.h"

/* libc's dlsym, not ours. */
void *lw_real_dlsym(void *handle, const char *name);
/* A driver or NVML entry point by name; NULL when the library or the symbol is absent. */
void *lw_cuda_sym(const char *name);
void *lw_nvml_sym(const char *name);

/* The real function behind hook `id`, resolved once. */
void *lw_real(lw_hook_id id);

#define REAL(name) ((__typeof__(&name))lw_real(LW_HOOK_##name))

#endif

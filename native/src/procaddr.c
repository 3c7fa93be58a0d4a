/* How programs reach driver functions without linking to them: dlsym, and cuGetProcAddress
 * (which the CUDA runtime uses for every entry point since 11.3). Both must hand out our hooks,
 * or a limit would only hold for programs linked straight to libcuda. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include "hooks.h"
#include "real.h"

const lw_hook lw_hooks[LW_HOOK_COUNT] = {
#define LW_ENTRY(name, is_nvml) [LW_HOOK_##name] = {#name, (void *)&name, is_nvml},
    LW_HOOK_LIST(LW_ENTRY)
#undef LW_ENTRY
};

LW_NOT_SANITIZED void *lw_hook_for_name(const char *name) {
    if (!((name[0] == 'c' && name[1] == 'u') || strncmp(name, "nvml", 4) == 0)) return NULL;
    for (int i = 0; i < LW_HOOK_COUNT; i++)
        if (strcmp(lw_hooks[i].name, name) == 0) return lw_hooks[i].hook;
    return NULL;
}

typedef void *(*dlsym_fn)(void *, const char *);

/* Whether the driver library really defines `name`, without loading it into a process that
 * never asked for it. */
static int defined_by_loaded_library(const char *name, int nvml) {
    void *h = dlopen(nvml ? "libnvidia-ml.so.1" : "libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) return 0;
    int found = lw_real_dlsym(h, name) != NULL;
    dlclose(h);
    return found;
}

__attribute__((visibility("default"))) LW_NOT_SANITIZED void *dlsym(void *handle, const char *name) {
    /* glibc declares `name` non-null; a NULL here crashes with or without us. */
    void *hook = lw_hook_for_name(name);
    if (hook != NULL) {
        /* Hand out the hook only where the lookup itself would have found the function. A global
         * lookup finds our own export first, so ask the driver library instead. */
        void *found = lw_real_dlsym(handle, name);
        if (found == hook) return defined_by_loaded_library(name, strncmp(name, "nvml", 4) == 0) ? hook : NULL;
        return found != NULL ? hook : NULL;
    }
    /* A tail call (the compiler emits a jump at -O2): libc's dlsym then sees our caller's return
     * address, which is what RTLD_NEXT lookups are resolved against. */
    return lw_real_dlsym(handle, name);
}

/* The driver answers with its own function; swap in ours when we hook that function. */
static void *swap(void *fn) {
    if (fn == NULL) return fn;
    for (int i = 0; i < LW_HOOK_COUNT; i++)
        if (!lw_hooks[i].nvml && lw_real((lw_hook_id)i) == fn) return lw_hooks[i].hook;
    return fn;
}

CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
    __typeof__(&cuGetProcAddress) real = REAL(cuGetProcAddress);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    CUresult rc = real(symbol, pfn, cudaVersion, flags);
    if (rc == CUDA_SUCCESS && pfn != NULL) *pfn = swap(*pfn);
    return rc;
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags, int *status) {
    __typeof__(&cuGetProcAddress_v2) real = REAL(cuGetProcAddress_v2);
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;
    CUresult rc = real(symbol, pfn, cudaVersion, flags, status);
    if (rc == CUDA_SUCCESS && pfn != NULL) *pfn = swap(*pfn);
    return rc;
}

/* Resolves the real driver/NVML functions behind our hooks.
 *
 * Our library exports `dlsym`, so a plain dlsym() call from here would reach ourselves. libc's own
 * is found with dlvsym(RTLD_NEXT, "dlsym", <version>): dlvsym is not hooked, and asking for an
 * explicit symbol version avoids the private _dl_sym interface that older interposers relied on.
 * glibc >= 2.34 defines dlsym in libc.so.6 at GLIBC_2.34 and keeps the GLIBC_2.2.5 (x86-64) or
 * GLIBC_2.17 (aarch64) compatibility version; older glibc has only the latter, in libdl. */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef void *(*dlsym_fn)(void *, const char *);

static dlsym_fn real_dlsym_fn;
static pthread_once_t dlsym_once = PTHREAD_ONCE_INIT;

LW_NOT_SANITIZED static void find_real_dlsym(void) {
    static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17", NULL};
    for (int i = 0; versions[i] != NULL && real_dlsym_fn == NULL; i++)
        real_dlsym_fn = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", versions[i]);
}

LW_NOT_SANITIZED void *lw_real_dlsym(void *handle, const char *name) {
    pthread_once(&dlsym_once, find_real_dlsym);
    return real_dlsym_fn ? real_dlsym_fn(handle, name) : NULL;
}

static _Atomic(void *) cuda_handle;
static _Atomic(void *) nvml_handle;

static void *library(_Atomic(void *) *slot, const char *soname) {
    void *h = atomic_load_explicit(slot, memory_order_acquire);
    if (h == NULL) {
        /* dlopen of an already-loaded soname returns that object; a race only bumps a refcount. */
        h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (h != NULL) atomic_store_explicit(slot, h, memory_order_release);
    }
    return h;
}

void *lw_cuda_sym(const char *name) {
    void *h = library(&cuda_handle, "libcuda.so.1");
    /* A lookup through the library's own handle searches it and its dependencies only, never a
     * preloaded object, so this is the driver's function and not our hook of the same name. */
    return h ? lw_real_dlsym(h, name) : NULL;
}

void *lw_nvml_sym(const char *name) {
    void *h = library(&nvml_handle, "libnvidia-ml.so.1");
    return h ? lw_real_dlsym(h, name) : NULL;
}

static _Atomic(void *) real_ptr[LW_HOOK_COUNT];
/* Set once the library was there to ask: an absent symbol (an older driver) is not looked up
 * again on every cuGetProcAddress. */
static _Atomic int looked_up[LW_HOOK_COUNT];

void *lw_real(lw_hook_id id) {
    void *p = atomic_load_explicit(&real_ptr[id], memory_order_acquire);
    if (p != NULL || atomic_load_explicit(&looked_up[id], memory_order_acquire)) return p;
    const lw_hook *h = &lw_hooks[id];
    p = h->nvml ? lw_nvml_sym(h->name) : lw_cuda_sym(h->name);
    if (p != NULL) atomic_store_explicit(&real_ptr[id], p, memory_order_release);
    if (atomic_load_explicit(h->nvml ? &nvml_handle : &cuda_handle, memory_order_acquire) != NULL)
        atomic_store_explicit(&looked_up[id], 1, memory_order_release);
    return p;
}

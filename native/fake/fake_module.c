/* The fake driver's modules, functions and events: enough for a program that loads a PTX image
 * with cuModuleLoadData, launches its kernels and times them with events, so that the programs
 * written for a real GPU (native/gpu/) run against the fake too. A module keeps its image; a
 * function exists when the image declares `.entry <name>`; what a kernel costs is the fake's usual
 * blocks x FAKE_GPU_NS_PER_BLOCK (fake_cuda.c). An event completes when this process's work queued
 * before it has finished, as a real event completes in stream order. */
#define _GNU_SOURCE
#include "fake_module.h"

#include <stdlib.h>
#include <string.h>

#include "fake_gpu.h"
#include "fake_timeline.h"

#define EXPORT __attribute__((visibility("default")))
#define CUDA_ERROR_INVALID_IMAGE 200
#define CUDA_ERROR_INVALID_CONTEXT 201
#define CUDA_ERROR_INVALID_HANDLE 400
#define CUDA_ERROR_NOT_READY 600
#define MODULE_MAGIC 0x6d6f64756c65ULL
#define FUNCTION_MAGIC 0x66756e6374ULL
#define EVENT_MAGIC 0x6576656e74ULL

typedef struct CUmod_st *CUmodule;
typedef struct CUevent_st *CUevent;

struct CUmod_st {
    uint64_t magic;
    char *image;
};

struct CUfunc_st {
    uint64_t magic;
    CUmodule module;
};

struct CUevent_st {
    uint64_t magic;
    int recorded;
    uint64_t at_ns; /* when the work before it finishes */
};

int fm_function_ok(CUfunction f) {
    return f != NULL && f->magic == FUNCTION_MAGIC && f->module != NULL && f->module->magic == MODULE_MAGIC;
}

EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
    if (module == NULL || image == NULL) return CUDA_ERROR_INVALID_VALUE;
    if (fakeCurrentDevice() < 0) return CUDA_ERROR_INVALID_CONTEXT;
    /* PTX is text; anything without an entry point is no image the fake can "run". */
    if (strstr(image, ".entry") == NULL) return CUDA_ERROR_INVALID_IMAGE;
    CUmodule m = calloc(1, sizeof(*m));
    if (m == NULL || (m->image = strdup(image)) == NULL) {
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    m->magic = MODULE_MAGIC;
    *module = m;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule m) {
    if (m == NULL || m->magic != MODULE_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    /* Functions of an unloaded module stay allocated but invalid, as their handles dangle. */
    m->magic = 0;
    free(m->image);
    m->image = NULL;
    return CUDA_SUCCESS;
}

/* `.entry <name>` followed by "(" or white space, so "spin" does not match "spin2". */
static int declares(const char *image, const char *name) {
    size_t len = strlen(name);
    for (const char *p = strstr(image, ".entry"); p != NULL; p = strstr(p + 6, ".entry")) {
        const char *q = p + 6;
        while (*q == ' ' || *q == '\t') q++;
        if (strncmp(q, name, len) == 0 && (q[len] == '(' || q[len] == ' ' || q[len] == '\t' || q[len] == '\n'))
            return 1;
    }
    return 0;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
    if (f == NULL || name == NULL) return CUDA_ERROR_INVALID_VALUE;
    if (m == NULL || m->magic != MODULE_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    if (!declares(m->image, name)) return CUDA_ERROR_NOT_FOUND;
    CUfunction fn = calloc(1, sizeof(*fn));
    if (fn == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
    *fn = (struct CUfunc_st){FUNCTION_MAGIC, m};
    *f = fn;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventCreate(CUevent *e, unsigned int flags) {
    (void)flags;
    if (e == NULL) return CUDA_ERROR_INVALID_VALUE;
    CUevent ev = calloc(1, sizeof(*ev));
    if (ev == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
    ev->magic = EVENT_MAGIC;
    *e = ev;
    return CUDA_SUCCESS;
}

static int event_ok(CUevent e) { return e != NULL && e->magic == EVENT_MAGIC; }

EXPORT CUresult cuEventDestroy_v2(CUevent e) {
    if (!event_ok(e)) return CUDA_ERROR_INVALID_HANDLE;
    e->magic = 0;
    free(e);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuEventDestroy(CUevent e) { return cuEventDestroy_v2(e); }

/* Every stream is in order behind all of this process's work: the fake has one queue per process. */
EXPORT CUresult cuEventRecord(CUevent e, CUstream s) {
    (void)s;
    if (!event_ok(e)) return CUDA_ERROR_INVALID_HANDLE;
    int dev = fakeCurrentDevice();
    if (dev < 0) return CUDA_ERROR_INVALID_CONTEXT;
    uint64_t now = fakeNowNs(), done = ft_process_done(dev);
    e->at_ns = done > now ? done : now;
    e->recorded = 1;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventQuery(CUevent e) {
    if (!event_ok(e)) return CUDA_ERROR_INVALID_HANDLE;
    return !e->recorded || fakeNowNs() >= e->at_ns ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

EXPORT CUresult cuEventSynchronize(CUevent e) {
    if (!event_ok(e)) return CUDA_ERROR_INVALID_HANDLE;
    if (e->recorded) fakeWaitUntil(e->at_ns);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
    if (ms == NULL) return CUDA_ERROR_INVALID_VALUE;
    if (!event_ok(start) || !event_ok(end) || !start->recorded || !end->recorded) return CUDA_ERROR_INVALID_HANDLE;
    uint64_t now = fakeNowNs();
    if (now < start->at_ns || now < end->at_ns) return CUDA_ERROR_NOT_READY;
    *ms = (float)(((double)end->at_ns - (double)start->at_ns) / 1e6);
    return CUDA_SUCCESS;
}
EXPORT CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end) {
    return cuEventElapsedTime(ms, start, end);
}

/* Memory hooks: charge the container's shared account before the driver allocates, refund on
 * failure or free. Charging first (under the region lock) means two processes racing for the
 * last bytes cannot both get them. */
#include <stdint.h>

#include "allocs.h"
#include "devices.h"
#include "hooks.h"
#include "log.h"
#include "real.h"
#include "state.h"

enum { NOT_CHARGED = 0, CHARGED = 1, REFUSED = -1 };

static int charge(int dev, uint64_t bytes, const char *what) {
    if (lw_state.closed) {
        lw_log("%s of %llu bytes refused: %s", what, (unsigned long long)bytes, lw_state.closed_why);
        return REFUSED;
    }
    if (dev < 0) return NOT_CHARGED;
    int slot = lw_my_slot();
    if (slot < 0) return NOT_CHARGED;
    uint64_t limit = lw_state.cfg.devices[dev].memory_limit, used = 0;
    if (lw_region_reserve(lw_state.region, slot, dev, bytes, limit, &used) == 0) return CHARGED;
    lw_log("%s of %llu bytes refused: the container's GPU memory limit on device %d is %llu bytes and %llu are in use",
           what, (unsigned long long)bytes, dev, (unsigned long long)limit, (unsigned long long)used);
    return REFUSED;
}

static void refund(int dev, uint64_t bytes) {
    int slot = lw_my_slot();
    if (dev >= 0 && slot >= 0) lw_region_release(lw_state.region, slot, dev, bytes);
}

/* After a successful free: refund what that allocation was charged, if anything. */
static void freed(lw_alloc_kind kind, uint64_t key) {
    int dev;
    uint64_t bytes;
    if (lw_allocs_find(kind, key, 1, &dev, &bytes)) refund(dev, bytes);
}

#define PASS_IF_DISABLED(real, ...)                             \
    if (real == NULL) return CUDA_ERROR_NOT_INITIALIZED;        \
    if (!lw_init()) return real(__VA_ARGS__)

/* The common shape: charge, call, refund on failure, remember on success. */
#define CHARGED_CALL(kind, dev, bytes, what, key, call)                         \
    do {                                                                        \
        int dev_ = (dev);                                                       \
        uint64_t bytes_ = (bytes);                                              \
        int charged_ = charge(dev_, bytes_, what);                              \
        if (charged_ == REFUSED) return CUDA_ERROR_OUT_OF_MEMORY;               \
        CUresult rc_ = call;                                                    \
        if (charged_ == CHARGED) {                                              \
            if (rc_ == CUDA_SUCCESS) lw_allocs_put(kind, key, dev_, bytes_);    \
            else refund(dev_, bytes_);                                          \
        }                                                                       \
        return rc_;                                                             \
    } while (0)

CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize) {
    __typeof__(&cuMemAlloc) real = REAL(cuMemAlloc);
    PASS_IF_DISABLED(real, dptr, bytesize);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAlloc", *dptr, real(dptr, bytesize));
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
    __typeof__(&cuMemAlloc_v2) real = REAL(cuMemAlloc_v2);
    PASS_IF_DISABLED(real, dptr, bytesize);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAlloc", *dptr, real(dptr, bytesize));
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
    __typeof__(&cuMemAllocManaged) real = REAL(cuMemAllocManaged);
    PASS_IF_DISABLED(real, dptr, bytesize, flags);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAllocManaged", *dptr,
                 real(dptr, bytesize, flags));
}

/* Stream-ordered allocations are charged to the current context's device, which is the stream's
 * device in every program that does not juggle contexts between the two calls. */
CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream stream) {
    __typeof__(&cuMemAllocAsync) real = REAL(cuMemAllocAsync);
    PASS_IF_DISABLED(real, dptr, bytesize, stream);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAllocAsync", *dptr,
                 real(dptr, bytesize, stream));
}

CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream stream) {
    __typeof__(&cuMemAllocAsync_ptsz) real = REAL(cuMemAllocAsync_ptsz);
    PASS_IF_DISABLED(real, dptr, bytesize, stream);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAllocAsync", *dptr,
                 real(dptr, bytesize, stream));
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream) {
    __typeof__(&cuMemAllocFromPoolAsync) real = REAL(cuMemAllocFromPoolAsync);
    PASS_IF_DISABLED(real, dptr, bytesize, pool, stream);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAllocFromPoolAsync", *dptr,
                 real(dptr, bytesize, pool, stream));
}

CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream) {
    __typeof__(&cuMemAllocFromPoolAsync_ptsz) real = REAL(cuMemAllocFromPoolAsync_ptsz);
    PASS_IF_DISABLED(real, dptr, bytesize, pool, stream);
    CHARGED_CALL(LW_ALLOC_PTR, lw_current_device(), bytesize, "cuMemAllocFromPoolAsync", *dptr,
                 real(dptr, bytesize, pool, stream));
}

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                     unsigned long long flags) {
    __typeof__(&cuMemCreate) real = REAL(cuMemCreate);
    PASS_IF_DISABLED(real, handle, size, prop, flags);
    /* Only device-resident physical memory counts; host-located VMM allocations do not. */
    int dev = prop != NULL && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE
                  ? lw_device_of_ordinal(prop->location.id)
                  : -1;
    CHARGED_CALL(LW_ALLOC_HANDLE, dev, size, "cuMemCreate", *handle, real(handle, size, prop, flags));
}

/* The driver pads pitched rows to an alignment it picks; charge a 512-byte guess first and settle
 * on the real pitch afterwards. */
static uint64_t pitch_guess(uint64_t width, uint64_t height) { return ((width + 511) & ~511ULL) * height; }

static CUresult settle_pitch(int dev, uint64_t guess, uint64_t actual, uint64_t key, int v1) {
    if (actual > guess && charge(dev, actual - guess, "cuMemAllocPitch") == REFUSED) {
        refund(dev, guess);
        __typeof__(&cuMemFree) free_v1 = REAL(cuMemFree);
        __typeof__(&cuMemFree_v2) free_v2 = REAL(cuMemFree_v2);
        if (v1 && free_v1 != NULL) free_v1((CUdeviceptr_v1)key);
        if (!v1 && free_v2 != NULL) free_v2(key);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (actual < guess) refund(dev, guess - actual);
    lw_allocs_put(LW_ALLOC_PTR, key, dev, actual);
    return CUDA_SUCCESS;
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elementSize) {
    __typeof__(&cuMemAllocPitch_v2) real = REAL(cuMemAllocPitch_v2);
    PASS_IF_DISABLED(real, dptr, pitch, width, height, elementSize);
    int dev = lw_current_device();
    uint64_t guess = pitch_guess(width, height);
    int charged = charge(dev, guess, "cuMemAllocPitch");
    if (charged == REFUSED) return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = real(dptr, pitch, width, height, elementSize);
    if (charged != CHARGED) return rc;
    if (rc != CUDA_SUCCESS) {
        refund(dev, guess);
        return rc;
    }
    return settle_pitch(dev, guess, (uint64_t)*pitch * height, *dptr, 0);
}

CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pitch, unsigned int width, unsigned int height,
                         unsigned int elementSize) {
    __typeof__(&cuMemAllocPitch) real = REAL(cuMemAllocPitch);
    PASS_IF_DISABLED(real, dptr, pitch, width, height, elementSize);
    int dev = lw_current_device();
    uint64_t guess = pitch_guess(width, height);
    int charged = charge(dev, guess, "cuMemAllocPitch");
    if (charged == REFUSED) return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = real(dptr, pitch, width, height, elementSize);
    if (charged != CHARGED) return rc;
    if (rc != CUDA_SUCCESS) {
        refund(dev, guess);
        return rc;
    }
    return settle_pitch(dev, guess, (uint64_t)*pitch * height, *dptr, 1);
}

/* Bytes per channel of a CUarray_format; formats not listed (block-compressed, video, packed) are
 * charged 4, more than most of them take. */
static uint64_t format_bytes(int format) {
    switch (format) {
    case 0x01: case 0x08: return 1;
    case 0x02: case 0x09: case 0x10: return 2;
    default: return 4;
    }
}

static uint64_t array_bytes(uint64_t w, uint64_t h, uint64_t d, int format, unsigned channels) {
    return w * (h ? h : 1) * (d ? d : 1) * format_bytes(format) * (channels ? channels : 1);
}

CUresult cuArrayCreate(CUarray *array, const CUDA_ARRAY_DESCRIPTOR_v1 *desc) {
    __typeof__(&cuArrayCreate) real = REAL(cuArrayCreate);
    PASS_IF_DISABLED(real, array, desc);
    if (desc == NULL) return real(array, desc);
    uint64_t bytes = array_bytes(desc->Width, desc->Height, 1, desc->Format, desc->NumChannels);
    CHARGED_CALL(LW_ALLOC_ARRAY, lw_current_device(), bytes, "cuArrayCreate", (uint64_t)(uintptr_t)*array,
                 real(array, desc));
}

CUresult cuArrayCreate_v2(CUarray *array, const CUDA_ARRAY_DESCRIPTOR *desc) {
    __typeof__(&cuArrayCreate_v2) real = REAL(cuArrayCreate_v2);
    PASS_IF_DISABLED(real, array, desc);
    if (desc == NULL) return real(array, desc);
    uint64_t bytes = array_bytes(desc->Width, desc->Height, 1, desc->Format, desc->NumChannels);
    CHARGED_CALL(LW_ALLOC_ARRAY, lw_current_device(), bytes, "cuArrayCreate", (uint64_t)(uintptr_t)*array,
                 real(array, desc));
}

CUresult cuArray3DCreate(CUarray *array, const CUDA_ARRAY3D_DESCRIPTOR_v1 *desc) {
    __typeof__(&cuArray3DCreate) real = REAL(cuArray3DCreate);
    PASS_IF_DISABLED(real, array, desc);
    if (desc == NULL) return real(array, desc);
    uint64_t bytes = array_bytes(desc->Width, desc->Height, desc->Depth, desc->Format, desc->NumChannels);
    CHARGED_CALL(LW_ALLOC_ARRAY, lw_current_device(), bytes, "cuArray3DCreate", (uint64_t)(uintptr_t)*array,
                 real(array, desc));
}

CUresult cuArray3DCreate_v2(CUarray *array, const CUDA_ARRAY3D_DESCRIPTOR *desc) {
    __typeof__(&cuArray3DCreate_v2) real = REAL(cuArray3DCreate_v2);
    PASS_IF_DISABLED(real, array, desc);
    if (desc == NULL) return real(array, desc);
    uint64_t bytes = array_bytes(desc->Width, desc->Height, desc->Depth, desc->Format, desc->NumChannels);
    CHARGED_CALL(LW_ALLOC_ARRAY, lw_current_device(), bytes, "cuArray3DCreate", (uint64_t)(uintptr_t)*array,
                 real(array, desc));
}

#define FREE_CALL(kind, key, call)                      \
    do {                                                \
        CUresult rc_ = call;                            \
        if (rc_ == CUDA_SUCCESS) freed(kind, key);      \
        return rc_;                                     \
    } while (0)

CUresult cuMemFree(CUdeviceptr_v1 dptr) {
    __typeof__(&cuMemFree) real = REAL(cuMemFree);
    PASS_IF_DISABLED(real, dptr);
    FREE_CALL(LW_ALLOC_PTR, dptr, real(dptr));
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
    __typeof__(&cuMemFree_v2) real = REAL(cuMemFree_v2);
    PASS_IF_DISABLED(real, dptr);
    FREE_CALL(LW_ALLOC_PTR, dptr, real(dptr));
}

/* Refunded when the free is enqueued, not when the stream reaches it: a little early, never late. */
CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream) {
    __typeof__(&cuMemFreeAsync) real = REAL(cuMemFreeAsync);
    PASS_IF_DISABLED(real, dptr, stream);
    FREE_CALL(LW_ALLOC_PTR, dptr, real(dptr, stream));
}

CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream) {
    __typeof__(&cuMemFreeAsync_ptsz) real = REAL(cuMemFreeAsync_ptsz);
    PASS_IF_DISABLED(real, dptr, stream);
    FREE_CALL(LW_ALLOC_PTR, dptr, real(dptr, stream));
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
    __typeof__(&cuMemRelease) real = REAL(cuMemRelease);
    PASS_IF_DISABLED(real, handle);
    FREE_CALL(LW_ALLOC_HANDLE, handle, real(handle));
}

CUresult cuArrayDestroy(CUarray array) {
    __typeof__(&cuArrayDestroy) real = REAL(cuArrayDestroy);
    PASS_IF_DISABLED(real, array);
    FREE_CALL(LW_ALLOC_ARRAY, (uint64_t)(uintptr_t)array, real(array));
}

/* The container's view of a device: total is its limit, free is what the limit leaves (and never
 * more than the card really has free). */
static void share_of(int dev, uint64_t *free_bytes, uint64_t *total_bytes) {
    uint64_t limit = lw_state.cfg.devices[dev].memory_limit;
    uint64_t used = lw_region_used(lw_state.region, dev);
    uint64_t left = used >= limit ? 0 : limit - used;
    if (left < *free_bytes) *free_bytes = left;
    if (limit < *total_bytes) *total_bytes = limit;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes) {
    __typeof__(&cuMemGetInfo_v2) real = REAL(cuMemGetInfo_v2);
    PASS_IF_DISABLED(real, free_bytes, total_bytes);
    CUresult rc = real(free_bytes, total_bytes);
    int dev = lw_current_device();
    if (rc != CUDA_SUCCESS || dev < 0 || free_bytes == NULL || total_bytes == NULL) return rc;
    uint64_t f = *free_bytes, t = *total_bytes;
    share_of(dev, &f, &t);
    *free_bytes = f;
    *total_bytes = t;
    return rc;
}

CUresult cuMemGetInfo(unsigned int *free_bytes, unsigned int *total_bytes) {
    __typeof__(&cuMemGetInfo) real = REAL(cuMemGetInfo);
    PASS_IF_DISABLED(real, free_bytes, total_bytes);
    CUresult rc = real(free_bytes, total_bytes);
    int dev = lw_current_device();
    if (rc != CUDA_SUCCESS || dev < 0 || free_bytes == NULL || total_bytes == NULL) return rc;
    uint64_t f = *free_bytes, t = *total_bytes;
    share_of(dev, &f, &t);
    *free_bytes = (unsigned int)f;
    *total_bytes = (unsigned int)t;
    return rc;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice ordinal) {
    __typeof__(&cuDeviceTotalMem_v2) real = REAL(cuDeviceTotalMem_v2);
    PASS_IF_DISABLED(real, bytes, ordinal);
    CUresult rc = real(bytes, ordinal);
    int dev = lw_device_of_ordinal(ordinal);
    if (rc == CUDA_SUCCESS && dev >= 0 && bytes != NULL && lw_state.cfg.devices[dev].memory_limit < *bytes)
        *bytes = lw_state.cfg.devices[dev].memory_limit;
    return rc;
}

CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice ordinal) {
    __typeof__(&cuDeviceTotalMem) real = REAL(cuDeviceTotalMem);
    PASS_IF_DISABLED(real, bytes, ordinal);
    CUresult rc = real(bytes, ordinal);
    int dev = lw_device_of_ordinal(ordinal);
    if (rc == CUDA_SUCCESS && dev >= 0 && bytes != NULL && lw_state.cfg.devices[dev].memory_limit < *bytes)
        *bytes = (unsigned int)lw_state.cfg.devices[dev].memory_limit;
    return rc;
}

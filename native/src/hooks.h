/* Every entry point we replace: one list, from which the id enum, the name table that dlsym and
 * cuGetProcAddress consult, and the real-function cache are all generated. */
#ifndef LOADWISE_HOOKS_H
#define LOADWISE_HOOKS_H

#include "cuda_types.h"

/* X(name, is_nvml) */
#define LW_HOOK_LIST(X)                                                                            \
    X(cuGetProcAddress, 0) X(cuGetProcAddress_v2, 0)                                               \
    X(cuMemAlloc, 0) X(cuMemAlloc_v2, 0) X(cuMemAllocPitch, 0) X(cuMemAllocPitch_v2, 0)            \
    X(cuMemAllocManaged, 0) X(cuMemAllocAsync, 0) X(cuMemAllocAsync_ptsz, 0)                       \
    X(cuMemAllocFromPoolAsync, 0) X(cuMemAllocFromPoolAsync_ptsz, 0) X(cuMemCreate, 0)             \
    X(cuArrayCreate, 0) X(cuArrayCreate_v2, 0) X(cuArray3DCreate, 0) X(cuArray3DCreate_v2, 0)      \
    X(cuMemFree, 0) X(cuMemFree_v2, 0) X(cuMemFreeAsync, 0) X(cuMemFreeAsync_ptsz, 0)              \
    X(cuMemRelease, 0) X(cuArrayDestroy, 0)                                                        \
    X(cuMemGetInfo, 0) X(cuMemGetInfo_v2, 0) X(cuDeviceTotalMem, 0) X(cuDeviceTotalMem_v2, 0)      \
    X(cuLaunchKernel, 0) X(cuLaunchKernel_ptsz, 0) X(cuLaunchKernelEx, 0)                          \
    X(cuLaunchKernelEx_ptsz, 0) X(cuLaunchCooperativeKernel, 0)                                    \
    X(cuLaunchCooperativeKernel_ptsz, 0) X(cuGraphLaunch, 0) X(cuGraphLaunch_ptsz, 0)              \
    X(nvmlDeviceGetMemoryInfo, 1) X(nvmlDeviceGetMemoryInfo_v2, 1)

typedef enum {
#define LW_ENUM(name, nvml) LW_HOOK_##name,
    LW_HOOK_LIST(LW_ENUM)
#undef LW_ENUM
    LW_HOOK_COUNT
} lw_hook_id;

typedef struct {
    const char *name;
    void *hook;
    int nvml;
} lw_hook;

extern const lw_hook lw_hooks[LW_HOOK_COUNT];

/* Our hook for `name`, or NULL when we do not hook it. */
void *lw_hook_for_name(const char *name);

/* Exported even though the library is built with hidden visibility: these are the interposers. */
#pragma GCC visibility push(default)

CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags, int *status);

CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize);
CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize);
CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pitch, unsigned int width, unsigned int height,
                         unsigned int elementSize);
CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elementSize);
CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags);
CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream stream);
CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream stream);
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream);
CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream);
CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                     unsigned long long flags);
CUresult cuArrayCreate(CUarray *array, const CUDA_ARRAY_DESCRIPTOR_v1 *desc);
CUresult cuArrayCreate_v2(CUarray *array, const CUDA_ARRAY_DESCRIPTOR *desc);
CUresult cuArray3DCreate(CUarray *array, const CUDA_ARRAY3D_DESCRIPTOR_v1 *desc);
CUresult cuArray3DCreate_v2(CUarray *array, const CUDA_ARRAY3D_DESCRIPTOR *desc);
CUresult cuMemFree(CUdeviceptr_v1 dptr);
CUresult cuMemFree_v2(CUdeviceptr dptr);
CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream);
CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream);
CUresult cuMemRelease(CUmemGenericAllocationHandle handle);
CUresult cuArrayDestroy(CUarray array);
CUresult cuMemGetInfo(unsigned int *free, unsigned int *total);
CUresult cuMemGetInfo_v2(size_t *free, size_t *total);
CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev);
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream, void **params,
                        void **extra);
CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                             unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream, void **params,
                             void **extra);
CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra);
CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **params, void **extra);
CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                   unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream,
                                   void **params);
CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                        CUstream stream, void **params);
CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream);
CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream);

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory);

#pragma GCC visibility pop

#endif

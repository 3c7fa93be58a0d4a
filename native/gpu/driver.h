/* The driver and NVML as the programs in gpu/ reach them: opened with dlopen("libcuda.so.1") and
 * dlsym like a CUDA runtime does, so one binary runs against the real driver on a GPU machine and
 * against the fake one (native/fake/) when LD_LIBRARY_PATH puts it first. No CUDA toolkit needed:
 * src/cuda_types.h and this file declare what is used. */
#ifndef LOADWISE_GPU_DRIVER_H
#define LOADWISE_GPU_DRIVER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_types.h"

typedef struct CUmod_st *CUmodule;
typedef struct CUevent_st *CUevent;

#define CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define CU_MEM_ALLOCATION_TYPE_PINNED 1

typedef struct {
    CUresult (*cuInit)(unsigned int);
    CUresult (*cuDeviceGet)(CUdevice *, int);
    CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*cuDeviceGetUuid)(CUuuid *, CUdevice);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuCtxSynchronize)(void);
    CUresult (*cuModuleLoadData)(CUmodule *, const void *);
    CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                               CUstream, void **, void **);
    CUresult (*cuEventCreate)(CUevent *, unsigned int);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventSynchronize)(CUevent);
    CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree_v2)(CUdeviceptr);
    CUresult (*cuMemGetInfo_v2)(size_t *, size_t *);
    CUresult (*cuMemCreate)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
    CUresult (*cuMemRelease)(CUmemGenericAllocationHandle);
    CUresult (*cuGetProcAddress)(const char *, void **, int, cuuint64_t);
    /* CUDA 12's form; NULL on an older driver. */
    CUresult (*cuGetProcAddress_v2)(const char *, void **, int, cuuint64_t, int *);
} gpu_driver;

typedef struct {
    nvmlReturn_t (*nvmlInit_v2)(void);
    nvmlReturn_t (*nvmlDeviceGetHandleByUUID)(const char *, nvmlDevice_t *);
    nvmlReturn_t (*nvmlDeviceGetUtilizationRates)(nvmlDevice_t, nvmlUtilization_t *);
} gpu_nvml;

extern gpu_driver cu;
extern gpu_nvml nv;
/* The PTX of gpu/spin.ptx, NUL-terminated, embedded at build time. */
extern const char gpu_spin_ptx[];

#include "../test/cu_check.h"

/* Opens the driver (and NVML when `with_nvml`), makes device 0's primary context current and
 * prints "driver=real" or "driver=fake", so a test can tell which one it measured. */
void gpu_open(int with_nvml);
/* Loads gpu/spin.ptx and returns its kernel. */
CUfunction gpu_spin_kernel(void);
/* Launches spin(cycles) on `grid` blocks of `threads`. */
CUresult gpu_spin(CUfunction f, unsigned grid, unsigned threads, unsigned long long cycles);
/* Device 0's multiprocessor count. */
unsigned gpu_sm_count(void);
/* Device 0 as NVML knows it, matched by UUID (NVML and CUDA may number devices differently). */
nvmlDevice_t gpu_nvml_device(void);
uint64_t gpu_now_ns(void);

#endif

/* Opens the driver and NVML through dlopen (see driver.h) and embeds the spin kernel's PTX. */
#define _GNU_SOURCE
#include "driver.h"

#include <dlfcn.h>
#include <string.h>
#include <time.h>

gpu_driver cu;
gpu_nvml nv;

/* gpu/spin.ptx, byte for byte, then a NUL: cuModuleLoadData takes PTX as a C string. The file
 * stays plain PTX, so ptxas can check it on its own. */
__asm__(".pushsection .rodata\n"
        ".globl gpu_spin_ptx\n"
        ".hidden gpu_spin_ptx\n"
        ".type gpu_spin_ptx, @object\n"
        "gpu_spin_ptx:\n"
        ".incbin \"" SPIN_PTX_PATH "\"\n"
        ".byte 0\n"
        ".size gpu_spin_ptx, . - gpu_spin_ptx\n"
        ".popsection\n");

static void *need(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    CHECK(f != NULL, "the driver has no %s", name);
    return f;
}

#define NEED(table, lib, name) table.name = (__typeof__(table.name))need(lib, #name)

void gpu_open(int with_nvml) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    CHECK(lib != NULL, "cannot open libcuda.so.1: %s", dlerror());
    NEED(cu, lib, cuInit);
    NEED(cu, lib, cuDeviceGet);
    NEED(cu, lib, cuDeviceGetAttribute);
    /* CUDA 13's headers call the _v2 (same signature); older drivers have only the first. */
    cu.cuDeviceGetUuid = (__typeof__(cu.cuDeviceGetUuid))dlsym(lib, "cuDeviceGetUuid_v2");
    if (cu.cuDeviceGetUuid == NULL) NEED(cu, lib, cuDeviceGetUuid);
    NEED(cu, lib, cuDevicePrimaryCtxRetain);
    NEED(cu, lib, cuCtxSetCurrent);
    NEED(cu, lib, cuCtxSynchronize);
    NEED(cu, lib, cuModuleLoadData);
    NEED(cu, lib, cuModuleGetFunction);
    NEED(cu, lib, cuLaunchKernel);
    NEED(cu, lib, cuEventCreate);
    NEED(cu, lib, cuEventRecord);
    NEED(cu, lib, cuEventSynchronize);
    NEED(cu, lib, cuMemAlloc_v2);
    NEED(cu, lib, cuMemFree_v2);
    NEED(cu, lib, cuMemGetInfo_v2);
    NEED(cu, lib, cuMemCreate);
    NEED(cu, lib, cuMemRelease);
    NEED(cu, lib, cuGetProcAddress);
    cu.cuGetProcAddress_v2 = (__typeof__(cu.cuGetProcAddress_v2))dlsym(lib, "cuGetProcAddress_v2");
    /* Likewise: CUDA 12.8 added a _v2, which CUDA 13's headers use. */
    cu.cuEventElapsedTime = (__typeof__(cu.cuEventElapsedTime))dlsym(lib, "cuEventElapsedTime_v2");
    if (cu.cuEventElapsedTime == NULL) NEED(cu, lib, cuEventElapsedTime);
    printf("driver=%s\n", dlsym(lib, "fakeNowNs") != NULL ? "fake" : "real");

    CUdevice dev;
    CUcontext ctx;
    CU_OK(cu.cuInit(0));
    CU_OK(cu.cuDeviceGet(&dev, 0));
    CU_OK(cu.cuDevicePrimaryCtxRetain(&ctx, dev));
    CU_OK(cu.cuCtxSetCurrent(ctx));

    if (!with_nvml) return;
    void *ml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_GLOBAL);
    CHECK(ml != NULL, "cannot open libnvidia-ml.so.1: %s", dlerror());
    NEED(nv, ml, nvmlInit_v2);
    NEED(nv, ml, nvmlDeviceGetHandleByUUID);
    NEED(nv, ml, nvmlDeviceGetUtilizationRates);
    CHECK(nv.nvmlInit_v2() == NVML_SUCCESS, "nvmlInit_v2 failed");
}

CUfunction gpu_spin_kernel(void) {
    CUmodule m;
    CUfunction f;
    CU_OK(cu.cuModuleLoadData(&m, gpu_spin_ptx));
    CU_OK(cu.cuModuleGetFunction(&f, m, "spin"));
    return f;
}

CUresult gpu_spin(CUfunction f, unsigned grid, unsigned threads, unsigned long long cycles) {
    void *params[] = {&cycles};
    return cu.cuLaunchKernel(f, grid, 1, 1, threads, 1, 1, 0, NULL, params, NULL);
}

unsigned gpu_sm_count(void) {
    int n = 0;
    CU_OK(cu.cuDeviceGetAttribute(&n, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    CHECK(n > 0, "multiprocessor count %d", n);
    return (unsigned)n;
}

nvmlDevice_t gpu_nvml_device(void) {
    CUuuid u;
    CU_OK(cu.cuDeviceGetUuid(&u, 0));
    const unsigned char *b = (const unsigned char *)u.bytes;
    char uuid[64];
    snprintf(uuid, sizeof(uuid), "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    nvmlDevice_t d;
    CHECK(nv.nvmlDeviceGetHandleByUUID(uuid, &d) == NVML_SUCCESS, "NVML has no device %s", uuid);
    return d;
}

uint64_t gpu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

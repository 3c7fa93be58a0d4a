/* NVML memory queries report the container's limit and use, so nvidia-smi inside the container
 * shows its share rather than the whole card. */
#include "devices.h"
#include "hooks.h"
#include "real.h"
#include "state.h"

static int container_view(nvmlDevice_t device, unsigned long long *total, unsigned long long *used) {
    int dev = lw_device_of_nvml(device);
    if (dev < 0) return 0;
    *total = lw_state.cfg.devices[dev].memory_limit;
    *used = lw_region_used(lw_state.region, dev);
    return 1;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    __typeof__(&nvmlDeviceGetMemoryInfo) real = REAL(nvmlDeviceGetMemoryInfo);
    if (real == NULL) return NVML_ERROR_UNINITIALIZED;
    nvmlReturn_t rc = real(device, memory);
    unsigned long long total, used;
    if (rc != NVML_SUCCESS || memory == NULL || !lw_init() || !container_view(device, &total, &used)) return rc;
    if (total > memory->total) total = memory->total;
    memory->total = total;
    memory->used = used;
    memory->free = used >= total ? 0 : total - used;
    return rc;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    __typeof__(&nvmlDeviceGetMemoryInfo_v2) real = REAL(nvmlDeviceGetMemoryInfo_v2);
    if (real == NULL) return NVML_ERROR_UNINITIALIZED;
    nvmlReturn_t rc = real(device, memory);
    unsigned long long total, used;
    if (rc != NVML_SUCCESS || memory == NULL || !lw_init() || !container_view(device, &total, &used)) return rc;
    if (total > memory->total) total = memory->total;
    /* The driver's reservation is not the container's to see or to spend. */
    memory->total = total;
    memory->reserved = 0;
    memory->used = used;
    memory->free = used >= total ? 0 : total - used;
    return rc;
}

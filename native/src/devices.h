/* Which configured device (its index in the config) a CUDA ordinal or NVML handle is. */
#ifndef LOADWISE_DEVICES_H
#define LOADWISE_DEVICES_H

#include "cuda_types.h"

/* Config index for a CUDA ordinal, or -1 when it has no limit. */
int lw_device_of_ordinal(CUdevice ordinal);
/* Config index of the calling thread's current context, or -1. */
int lw_current_device(void);
/* Config index for an NVML handle, or -1. */
int lw_device_of_nvml(nvmlDevice_t device);
/* CUDA ordinal's UUID as NVML prints it ("GPU-xxxxxxxx-..."); 0 on success. */
int lw_ordinal_uuid(CUdevice ordinal, char *out, size_t len);

#endif

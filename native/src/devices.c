/* A configured device is matched by UUID when the config gives one and the driver can say it,
 * and by its position otherwise: the agent lists devices in the container's CUDA order. A position
 * is not used when its configured UUID is another visible device's: that device is the one it
 * limits. Anything less sure falls back to the position, because a limit on the wrong device is
 * better than no limit at all. */
#include "devices.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "real.h"
#include "state.h"

#define MAX_ORDINALS 64
#define UNKNOWN (-2)

static int ordinal_map[MAX_ORDINALS];
static int ordinal_map_ready;

/* UUIDs compare without their "GPU-"/"MIG-" prefix and case: NVML and the agent print them. */
static const char *bare(const char *uuid) {
    if (strncasecmp(uuid, "GPU-", 4) == 0 || strncasecmp(uuid, "MIG-", 4) == 0) return uuid + 4;
    return uuid;
}

static int same_uuid(const char *a, const char *b) { return strcasecmp(bare(a), bare(b)) == 0; }

typedef int (*uuid_at_fn)(int position, char *out, size_t len);

static int match(const char *uuid, int position, uuid_at_fn uuid_at, int count) {
    const lw_config *cfg = &lw_state.cfg;
    if (uuid != NULL) {
        for (int i = 0; i < LW_MAX_DEVICES; i++)
            if (cfg->devices[i].present && cfg->devices[i].uuid[0] != '\0' && same_uuid(cfg->devices[i].uuid, uuid))
                return i;
    }
    if (position < 0 || position >= LW_MAX_DEVICES || !cfg->devices[position].present) return -1;
    if (uuid != NULL && cfg->devices[position].uuid[0] != '\0') {
        char other[96];
        for (int i = 0; i < count; i++)
            if (uuid_at(i, other, sizeof(other)) == 0 && same_uuid(other, cfg->devices[position].uuid)) return -1;
    }
    return position;
}

static int cuda_uuid_at(int ordinal, char *out, size_t len) { return lw_ordinal_uuid(ordinal, out, len); }

static int cuda_count(void) {
    typedef CUresult (*count_fn)(int *);
    count_fn get = (count_fn)lw_cuda_sym("cuDeviceGetCount");
    int n = 0;
    return get != NULL && get(&n) == CUDA_SUCCESS ? n : 0;
}

int lw_ordinal_uuid(CUdevice ordinal, char *out, size_t len) {
    typedef CUresult (*get_uuid_fn)(CUuuid *, CUdevice);
    get_uuid_fn get = (get_uuid_fn)lw_cuda_sym("cuDeviceGetUuid");
    CUuuid u;
    if (get == NULL || get(&u, ordinal) != CUDA_SUCCESS) return -1;
    const unsigned char *b = (const unsigned char *)u.bytes;
    snprintf(out, len,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

int lw_device_of_ordinal(CUdevice ordinal) {
    if (ordinal < 0 || ordinal >= MAX_ORDINALS) return -1;
    if (!__atomic_load_n(&ordinal_map_ready, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < MAX_ORDINALS; i++) ordinal_map[i] = UNKNOWN;
        __atomic_store_n(&ordinal_map_ready, 1, __ATOMIC_RELEASE);
    }
    int cached = __atomic_load_n(&ordinal_map[ordinal], __ATOMIC_RELAXED);
    if (cached != UNKNOWN) return cached;
    char uuid[64];
    int have = lw_ordinal_uuid(ordinal, uuid, sizeof(uuid)) == 0;
    int idx = match(have ? uuid : NULL, ordinal, cuda_uuid_at, have ? cuda_count() : 0);
    __atomic_store_n(&ordinal_map[ordinal], idx, __ATOMIC_RELAXED);
    return idx;
}

int lw_current_device(void) {
    typedef CUresult (*ctx_dev_fn)(CUdevice *);
    static ctx_dev_fn get;
    if (get == NULL) get = (ctx_dev_fn)lw_cuda_sym("cuCtxGetDevice");
    CUdevice dev;
    if (get == NULL || get(&dev) != CUDA_SUCCESS) {
        /* No current context: with a single device that is still the one allocations land on. */
        return lw_state.only_device;
    }
    return lw_device_of_ordinal(dev);
}

typedef nvmlReturn_t (*nvml_uuid_fn)(nvmlDevice_t, char *, unsigned int);
typedef nvmlReturn_t (*nvml_index_fn)(nvmlDevice_t, unsigned int *);
typedef nvmlReturn_t (*nvml_count_fn)(unsigned int *);
typedef nvmlReturn_t (*nvml_by_index_fn)(unsigned int, nvmlDevice_t *);

static int nvml_uuid_at(int index, char *out, size_t len) {
    nvml_by_index_fn by_index = (nvml_by_index_fn)lw_nvml_sym("nvmlDeviceGetHandleByIndex_v2");
    nvml_uuid_fn get_uuid = (nvml_uuid_fn)lw_nvml_sym("nvmlDeviceGetUUID");
    nvmlDevice_t d;
    if (by_index == NULL || get_uuid == NULL || by_index((unsigned)index, &d) != NVML_SUCCESS) return -1;
    return get_uuid(d, out, (unsigned)len) == NVML_SUCCESS ? 0 : -1;
}

int lw_device_of_nvml(nvmlDevice_t device) {
    nvml_uuid_fn get_uuid = (nvml_uuid_fn)lw_nvml_sym("nvmlDeviceGetUUID");
    nvml_index_fn get_index = (nvml_index_fn)lw_nvml_sym("nvmlDeviceGetIndex");
    nvml_count_fn get_count = (nvml_count_fn)lw_nvml_sym("nvmlDeviceGetCount_v2");
    char uuid[96];
    unsigned int index = 0, count = 0;
    int have_uuid = get_uuid != NULL && get_uuid(device, uuid, sizeof(uuid)) == NVML_SUCCESS;
    int have_index = get_index != NULL && get_index(device, &index) == NVML_SUCCESS;
    if (get_count == NULL || get_count(&count) != NVML_SUCCESS) count = 0;
    return match(have_uuid ? uuid : NULL, have_index ? (int)index : -1, nvml_uuid_at, (int)count);
}

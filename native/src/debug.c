/* Introspection for tests and for people debugging a container: what the library understood. */
#include <stdatomic.h>
#include <stdio.h>

#include "state.h"

#define LW_PUBLIC __attribute__((visibility("default")))

/* Writes the effective configuration and the container's use, one `key=value` per line. */
LW_PUBLIC int loadwise_vgpu_describe(char *buf, size_t len);
/* Takes the shared lock and keeps it: lets a test kill a process while it holds the lock. */
LW_PUBLIC int loadwise_vgpu_test_hold_lock(void);

int loadwise_vgpu_describe(char *buf, size_t len) {
    size_t n = 0;
#define PUT(...)                                                              \
    do {                                                                      \
        int m = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__);        \
        if (m > 0) n += (size_t)m;                                            \
    } while (0)
    if (!lw_init()) {
        PUT("enabled=0\n");
        return (int)n;
    }
    if (lw_state.closed) {
        PUT("enabled=1\nclosed=%s\n", lw_state.closed_why);
        return (int)n;
    }
    const lw_config *c = &lw_state.cfg;
    PUT("enabled=1\ncore_limit=%d\ncore_mode=%s\n", c->core_limit, c->soft ? "soft" : "hard");
    if (c->shared_region[0] != '\0') PUT("shared_region=%s\n", c->shared_region);
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        if (!c->devices[i].present) continue;
        if (c->devices[i].uuid[0] != '\0') PUT("device.%d.uuid=%s\n", i, c->devices[i].uuid);
        PUT("device.%d.memory_limit=%llu\n", i, (unsigned long long)c->devices[i].memory_limit);
        PUT("device.%d.used=%llu\n", i, (unsigned long long)lw_region_used(lw_state.region, i));
        if (lw_state.throttled) {
            const lw_bucket *b = &lw_state.region->bucket[i];
            PUT("device.%d.tokens_per_second=%lld\ndevice.%d.utilisation=%u\n", i,
                (long long)atomic_load(&b->rate), i, (unsigned)atomic_load(&b->util));
        }
    }
    return (int)n;
#undef PUT
}

int loadwise_vgpu_test_hold_lock(void) {
    if (!lw_init() || lw_state.region == NULL) return -1;
    return lw_region_lock(lw_state.region);
}

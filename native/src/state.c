/* Decides, once per process, whether limits apply: config file, then env overrides. Anything wrong
 * leaves the library in pass-through with one stderr line, because a broken limit must never
 * break the application. */
#define _GNU_SOURCE
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocs.h"
#include "log.h"
#include "throttle.h"

lw_state_t lw_state = {.only_device = -1};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t slot_mutex = PTHREAD_MUTEX_INITIALIZER;
static int my_slot = -1;

/* 1: read; 0: no file; -1: unreadable (message in err). */
static int read_file(const char *path, char *buf, size_t cap, size_t *len, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n == cap) {
            snprintf(err, errlen, "%.200s is larger than %zu bytes", path, cap - 1);
            close(fd);
            return -1;
        }
    }
    close(fd);
    *len = n;
    return 1;
}

/* Env overrides; 1 when any was set, -1 when one is malformed (message in err). */
static int apply_env(lw_config *cfg, char *err, size_t errlen) {
    int any = 0;
    uint64_t v;
    const char *core = getenv(LW_CORE_LIMIT_ENV);
    if (core != NULL) {
        if (lw_parse_decimal(core, strlen(core), &v) != 0 || v < 1 || v > 100) {
            snprintf(err, errlen, "%s=\"%.32s\" is not a percent 1..100", LW_CORE_LIMIT_ENV, core);
            return -1;
        }
        cfg->core_limit = (int)v;
        any = 1;
    }
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%d", LW_MEMORY_LIMIT_ENV_PREFIX, i);
        const char *mem = getenv(name);
        if (mem == NULL) continue;
        if (lw_parse_decimal(mem, strlen(mem), &v) != 0 || v < 1) {
            snprintf(err, errlen, "%s=\"%.32s\" is not a whole number of bytes >= 1", name, mem);
            return -1;
        }
        cfg->devices[i].present = 1;
        cfg->devices[i].memory_limit = v;
        any = 1;
    }
    return any;
}

static void reset_after_fork(void) {
    /* The child is a new process: it must not write into its parent's slot. */
    pthread_mutex_init(&slot_mutex, NULL);
    my_slot = -1;
    lw_allocs_reset();
    lw_throttle_after_fork();
}

static void load(void) {
    static char text[LW_MAX_CONFIG_BYTES + 1];
    char err[384] = "";
    const char *dir = getenv(LW_CONFIG_DIR_ENV);
    if (dir == NULL || dir[0] == '\0') dir = LW_DEFAULT_CONFIG_DIR;
    lw_config *cfg = &lw_state.cfg;
    snprintf(lw_state.config_path, sizeof(lw_state.config_path), "%.400s/%s", dir, LW_CONFIG_FILE);

    size_t len = 0;
    int have_file = read_file(lw_state.config_path, text, sizeof(text), &len, err, sizeof(err));
    if (have_file < 0) goto broken;
    if (have_file == 1 && lw_config_parse(text, len, cfg, err + 0, sizeof(err)) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "%.159s", err);
        snprintf(err, sizeof(err), "%.200s: %.160s", lw_state.config_path, why);
        goto broken;
    }
    if (have_file == 0) {
        memset(cfg, 0, sizeof(*cfg));
        cfg->core_limit = 100;
    }
    int env = apply_env(cfg, err, sizeof(err));
    if (env < 0) goto broken;
    if (have_file == 0 && env == 0) return; /* no config at all: pure pass-through */

    int count = 0, last = -1;
    for (int i = 0; i < LW_MAX_DEVICES; i++)
        if (cfg->devices[i].present) count++, last = i;
    if (count == 0) {
        snprintf(err, sizeof(err), "%s is set but no device limit is (%s<i> or %s)", LW_CORE_LIMIT_ENV,
                 LW_MEMORY_LIMIT_ENV_PREFIX, LW_CONFIG_FILE);
        goto broken;
    }

    const char *period = getenv(LW_SAMPLE_MS_ENV);
    uint64_t p = 0;
    lw_state.period_ms = 100;
    if (period != NULL && lw_parse_decimal(period, strlen(period), &p) == 0 && p >= 10 && p <= 5000)
        lw_state.period_ms = (unsigned)p;

    char region_path[512];
    if (cfg->shared_region[0] != '\0') snprintf(region_path, sizeof(region_path), "%.255s", cfg->shared_region);
    else snprintf(region_path, sizeof(region_path), "%.400s/%s", dir, LW_REGION_FILE);
    char rerr[384] = "";
    lw_state.region = lw_region_open(region_path, rerr, sizeof(rerr));
    if (lw_state.region == NULL) {
        lw_state.region = lw_region_private();
        if (lw_state.region == NULL) {
            snprintf(err, sizeof(err), "no memory for the accounting region");
            goto broken;
        }
        lw_log("%s; limits hold per process, not across the container", rerr);
    }
    lw_state.only_device = count == 1 ? last : -1;
    lw_state.throttled = cfg->core_limit < 100;
    pthread_atfork(NULL, NULL, reset_after_fork);
    lw_state.enabled = 1;
    return;
broken:
    memset(cfg, 0, sizeof(*cfg));
    lw_log("%s; GPU limits are NOT enforced", err);
}

int lw_init(void) {
    pthread_once(&once, load);
    return lw_state.enabled;
}

int lw_my_slot(void) {
    int s = __atomic_load_n(&my_slot, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    pthread_mutex_lock(&slot_mutex);
    if (my_slot < 0 && lw_region_lock(lw_state.region) == 0) {
        int got = lw_region_attach(lw_state.region);
        lw_region_unlock(lw_state.region);
        static int told;
        if (got < 0 && !told++)
            lw_log("all %d process slots of the shared region are in use; this process's memory is not limited",
                   LW_MAX_SLOTS);
        __atomic_store_n(&my_slot, got, __ATOMIC_RELEASE);
    }
    s = my_slot;
    pthread_mutex_unlock(&slot_mutex);
    return s;
}

/* Decides, once per process, which limits apply: the config file the device plugin mounted, which
 * the environment may only lower. A config that is there but unusable fails closed (allocations
 * refused, one stderr line saying why); only a container with no config at all passes through. */
#define _GNU_SOURCE
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Env overrides on top of a config file: each may only lower a limit the file sets. A value that
 * would raise one, is malformed, or names a device the file does not list is ignored with one
 * line: the file the device plugin wrote is the authority, not the container's environment. */
static void lower_from_env(lw_config *cfg) {
    uint64_t v;
    const char *core = getenv(LW_CORE_LIMIT_ENV);
    if (core != NULL) {
        if (lw_parse_decimal(core, strlen(core), &v) != 0 || v < 1 || v > 100)
            lw_log("%s=\"%.32s\" is not a percent 1..100; ignored, the config's %d%% holds", LW_CORE_LIMIT_ENV, core,
                   cfg->core_limit);
        else if ((int)v > cfg->core_limit)
            lw_log("%s=%d would raise the config's %d%%; ignored (the environment may only lower a limit)",
                   LW_CORE_LIMIT_ENV, (int)v, cfg->core_limit);
        else cfg->core_limit = (int)v;
    }
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%d", LW_MEMORY_LIMIT_ENV_PREFIX, i);
        const char *mem = getenv(name);
        if (mem == NULL) continue;
        lw_device_config *d = &cfg->devices[i];
        if (!d->present)
            lw_log("%s is set but the config lists no device %d; ignored", name, i);
        else if (lw_parse_decimal(mem, strlen(mem), &v) != 0 || v < 1)
            lw_log("%s=\"%.32s\" is not a whole number of bytes >= 1; ignored, the config's %llu bytes hold", name,
                   mem, (unsigned long long)d->memory_limit);
        else if (v > d->memory_limit)
            lw_log("%s=%llu would raise the config's %llu bytes; ignored (the environment may only lower a limit)",
                   name, (unsigned long long)v, (unsigned long long)d->memory_limit);
        else d->memory_limit = v;
    }
}

/* Env alone, where no config file exists: 1 when any was set, -1 when one is malformed. */
static int config_from_env(lw_config *cfg, char *err, size_t errlen) {
    int any = 0;
    uint64_t v;
    memset(cfg, 0, sizeof(*cfg));
    cfg->core_limit = 100;
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
    lw_region_after_fork();
    lw_throttle_after_fork();
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fails closed: limits stay "on" but every GPU allocation is refused with `why`, because a share
 * the library cannot read must not become the whole GPU. */
static void close_up(const char *why) {
    memset(&lw_state.cfg, 0, sizeof(lw_state.cfg));
    snprintf(lw_state.closed_why, sizeof(lw_state.closed_why), "%s", why);
    lw_state.closed = 1;
    lw_state.enabled = 1;
    lw_log("%s; GPU memory allocations are refused until it is fixed", why);
}

/* Where the config is read from. The directory the device plugin mounts (LW_DEFAULT_CONFIG_DIR,
 * fixed at build time) is the authority whenever it exists: $LOADWISE_VGPU_CONFIG_DIR may point
 * elsewhere only where nothing is mounted, which is a process choosing limits for itself. */
static const char *config_dir(int *mounted) {
    const char *anchor = LW_DEFAULT_CONFIG_DIR;
    const char *env = getenv(LW_CONFIG_DIR_ENV);
    *mounted = is_dir(anchor);
    if (*mounted) {
        if (env != NULL && env[0] != '\0' && strcmp(env, anchor) != 0)
            lw_log("%s=\"%.200s\" ignored: the config mounted at %s is the authority", LW_CONFIG_DIR_ENV, env, anchor);
        return anchor;
    }
    return env != NULL && env[0] != '\0' ? env : anchor;
}

static void load(void) {
    static char text[LW_MAX_CONFIG_BYTES + 1];
    char err[384] = "", why[512];
    int mounted = 0;
    const char *dir = config_dir(&mounted);
    lw_config *cfg = &lw_state.cfg;
    snprintf(lw_state.config_path, sizeof(lw_state.config_path), "%.400s/%s", dir, LW_CONFIG_FILE);

    size_t len = 0;
    int have_file = read_file(lw_state.config_path, text, sizeof(text), &len, err, sizeof(err));
    if (have_file < 0) {
        close_up(err);
        return;
    }
    if (have_file == 1) {
        if (lw_config_parse(text, len, cfg, err, sizeof(err)) != 0) {
            snprintf(why, sizeof(why), "%.300s: %.200s", lw_state.config_path, err);
            {
        close_up(why);
        return;
    }
        }
        lower_from_env(cfg);
    } else if (mounted) {
        snprintf(why, sizeof(why), "%.300s is missing from the directory the device plugin mounts",
                 lw_state.config_path);
        {
        close_up(why);
        return;
    }
    } else {
        int env = config_from_env(cfg, err, sizeof(err));
        /* No file and nothing mounted: the environment is the process's own choice of limits. */
        if (env == 0) return; /* no config at all: pure pass-through */
        if (env < 0) {
            memset(cfg, 0, sizeof(*cfg));
            lw_log("%s; GPU limits are NOT enforced (no config file, so nothing else sets them)", err);
            return;
        }
    }

    int count = 0, last = -1;
    for (int i = 0; i < LW_MAX_DEVICES; i++)
        if (cfg->devices[i].present) count++, last = i;
    if (count == 0) {
        memset(cfg, 0, sizeof(*cfg));
        lw_log("%s is set but no device limit is (%s<i> or %s); GPU limits are NOT enforced", LW_CORE_LIMIT_ENV,
               LW_MEMORY_LIMIT_ENV_PREFIX, LW_CONFIG_FILE);
        return;
    }

    const char *period = getenv(LW_SAMPLE_MS_ENV);
    uint64_t p = 0;
    lw_state.period_ms = 100;
    if (period != NULL && lw_parse_decimal(period, strlen(period), &p) == 0 && p >= 10 && p <= 5000)
        lw_state.period_ms = (unsigned)p;

    char region_path[512];
    if (cfg->shared_region[0] != '\0') snprintf(region_path, sizeof(region_path), "%.255s", cfg->shared_region);
    else snprintf(region_path, sizeof(region_path), "%.400s/%s", dir, LW_REGION_FILE);
    lw_state.region = lw_region_open(region_path, err, sizeof(err));
    if (lw_state.region == NULL) {
        /* Per-process accounting would let each process of the container have the whole share. */
        snprintf(why, sizeof(why), "%.400s (every process of the container must share it)", err);
        {
        close_up(why);
        return;
    }
    }
    lw_state.only_device = count == 1 ? last : -1;
    lw_state.throttled = cfg->core_limit < 100;
    pthread_atfork(NULL, NULL, reset_after_fork);
    lw_state.enabled = 1;
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

/* Tokens are thread blocks. How many blocks per second the GPU retires at 100% is not known in
 * advance and differs per kernel, so the sampler measures it: blocks launched in a period divided
 * by the utilisation NVML saw in that period. The refill rate is that capacity times the limit.
 * Because capacity is re-measured every period, a wrong token cost (a graph launch, a heavy
 * kernel) only changes the unit, not the share: rate_{n+1} = rate_n * limit / measured.
 *
 * Launchers never take a lock: the bucket is a pair of atomics in the shared region. A launcher
 * takes its tokens first and waits out any debt, so a kernel larger than the bucket still runs. */
#define _GNU_SOURCE
#include "throttle.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cuda_types.h"
#include "devices.h"
#include "log.h"
#include "real.h"
#include "state.h"

/* The longest one launch waits: a limit must slow a program, never hang it. */
#define MAX_WAIT_NS 2000000000ULL
/* Soft mode leaves this much of the GPU to whoever else may want it. */
#define SOFT_HEADROOM 10

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void refill(lw_bucket *b, uint64_t now) {
    int64_t rate = atomic_load_explicit(&b->rate, memory_order_relaxed);
    if (rate <= 0) return;
    uint64_t last = atomic_load_explicit(&b->last_refill_ns, memory_order_relaxed);
    if (now <= last) return;
    int64_t add = (int64_t)((__int128)rate * (now - last) / 1000000000);
    if (add < 1) return;
    /* Advance the clock by exactly the time those whole tokens took, so fractions are not lost. */
    uint64_t spent = (uint64_t)((__int128)add * 1000000000 / rate);
    if (!atomic_compare_exchange_strong(&b->last_refill_ns, &last, last + spent)) return;
    int64_t cap = rate * (int64_t)lw_state.period_ms / 1000;
    if (cap < 1) cap = 1;
    int64_t cur = atomic_load_explicit(&b->tokens, memory_order_relaxed), next;
    do {
        next = cur + add > cap ? cap : cur + add;
        if (next < cur) next = cur;
    } while (!atomic_compare_exchange_weak(&b->tokens, &cur, next));
}

/* ---- sampling thread ---- */

typedef nvmlReturn_t (*nvml_init_fn)(void);
typedef nvmlReturn_t (*nvml_by_index_fn)(unsigned int, nvmlDevice_t *);
typedef nvmlReturn_t (*nvml_by_uuid_fn)(const char *, nvmlDevice_t *);
typedef nvmlReturn_t (*nvml_proc_util_fn)(nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned int *,
                                          unsigned long long);
typedef nvmlReturn_t (*nvml_util_fn)(nvmlDevice_t, nvmlUtilization_t *);

typedef struct {
    nvmlDevice_t handle;
    int ready;
    uint64_t last_ns;
    uint64_t last_launched;
    unsigned long long last_seen_us;
} sampled;

static struct {
    nvml_proc_util_fn proc_util;
    nvml_util_fn util;
    sampled dev[LW_MAX_DEVICES];
} s;

static _Atomic int sampler_started;

static unsigned long long realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

static int find_handle(int dev, nvmlDevice_t *out) {
    nvml_by_uuid_fn by_uuid = (nvml_by_uuid_fn)lw_nvml_sym("nvmlDeviceGetHandleByUUID");
    nvml_by_index_fn by_index = (nvml_by_index_fn)lw_nvml_sym("nvmlDeviceGetHandleByIndex_v2");
    if (by_uuid != NULL && lw_state.cfg.devices[dev].uuid[0] != '\0' &&
        by_uuid(lw_state.cfg.devices[dev].uuid, out) == NVML_SUCCESS)
        return 0;
    /* NVML and CUDA may order devices differently; the UUID of the CUDA ordinal settles it. */
    char uuid[64];
    if (by_uuid != NULL && lw_ordinal_uuid(dev, uuid, sizeof(uuid)) == 0 && by_uuid(uuid, out) == NVML_SUCCESS)
        return 0;
    return by_index != NULL && by_index((unsigned)dev, out) == NVML_SUCCESS ? 0 : -1;
}

static int in_container(unsigned int pid) {
    lw_region *r = lw_state.region;
    for (int i = 0; i < LW_MAX_SLOTS; i++)
        if ((unsigned int)__atomic_load_n(&r->slots[i].pid, __ATOMIC_RELAXED) == pid) return 1;
    return (unsigned int)getpid() == pid;
}

/* The container's utilisation of `dev` since the last call, in percent; -1 when unknown. */
static int measure(sampled *d, int launched_any, unsigned *device_util) {
    nvmlUtilization_t whole;
    int have_whole = s.util != NULL && s.util(d->handle, &whole) == NVML_SUCCESS;
    *device_util = have_whole ? whole.gpu : 0;
    if (s.proc_util != NULL) {
        nvmlProcessUtilizationSample_t samples[256];
        unsigned int n = 256;
        nvmlReturn_t rc = s.proc_util(d->handle, samples, &n, d->last_seen_us);
        if (rc == NVML_ERROR_NOT_FOUND) return 0; /* no process ran since last time */
        if (rc == NVML_SUCCESS) {
            /* Per pid, the mean of its samples; the container is the sum over its pids. */
            unsigned sum = 0, matched = 0;
            for (unsigned i = 0; i < n; i++) {
                if (samples[i].timeStamp > d->last_seen_us) d->last_seen_us = samples[i].timeStamp;
                if (!in_container(samples[i].pid)) continue;
                unsigned total = 0, count = 0;
                int first = 1;
                for (unsigned j = 0; j < n; j++) {
                    if (samples[j].pid != samples[i].pid) continue;
                    if (j < i) first = 0;
                    total += samples[j].smUtil;
                    count++;
                }
                if (first) sum += total / count, matched++;
            }
            /* Our launches ran but no pid matched: the container sees other pids than NVML (a pid
             * namespace). The whole device's figure over-counts, which errs towards the limit. */
            if (matched > 0 || !launched_any || !have_whole) return (int)(sum > 100 ? 100 : sum);
        }
    }
    return have_whole ? (int)whole.gpu : -1;
}

static void sample(int dev, uint64_t now) {
    sampled *d = &s.dev[dev];
    lw_bucket *b = &lw_state.region->bucket[dev];
    uint64_t launched = atomic_load(&b->launched);
    if (!d->ready) {
        unsigned ignored;
        d->ready = 1;
        d->last_ns = now;
        d->last_launched = launched;
        d->last_seen_us = realtime_us();
        /* Opens NVML's window too, so the next sample measures exactly the period since now. */
        (void)measure(d, 0, &ignored);
        return;
    }
    uint64_t dl = launched - d->last_launched;
    double elapsed = (double)(now - d->last_ns) / 1e9;
    d->last_ns = now;
    d->last_launched = launched;
    unsigned device_util;
    int util = measure(d, dl > 0, &device_util);
    if (util < 0 || elapsed <= 0) return;
    atomic_store(&b->util, (uint32_t)util);
    if (dl > 0 && util >= 1) {
        double observed = (double)dl / ((double)util / 100.0 * elapsed);
        b->capacity = b->capacity > 0 ? 0.5 * b->capacity + 0.5 * observed : observed;
    }
    if (b->capacity <= 0) return;
    double target = lw_state.cfg.core_limit;
    if (lw_state.cfg.soft) {
        /* Borrow what nobody else uses, keeping some headroom for them to come back. */
        double others = device_util > (unsigned)util ? device_util - (unsigned)util : 0;
        double idle = 100.0 - others - SOFT_HEADROOM;
        if (idle > target) target = idle;
    }
    int64_t rate = (int64_t)(b->capacity * target / 100.0);
    if (rate < 1) rate = 1;
    if (atomic_load(&b->rate) == 0) atomic_store(&b->last_refill_ns, now);
    atomic_store(&b->rate, rate);
    atomic_store(&b->waited, 0);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *sampler_main(void *arg) {
    (void)arg;
    nvml_init_fn init = (nvml_init_fn)lw_nvml_sym("nvmlInit_v2");
    if (init == NULL || init() != NVML_SUCCESS) {
        lw_log("NVML is unavailable, so GPU utilisation cannot be measured; the compute limit is NOT enforced");
        return NULL;
    }
    s.proc_util = (nvml_proc_util_fn)lw_nvml_sym("nvmlDeviceGetProcessUtilization");
    s.util = (nvml_util_fn)lw_nvml_sym("nvmlDeviceGetUtilizationRates");
    int any = 0;
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        if (!lw_state.cfg.devices[i].present) continue;
        if (find_handle(i, &s.dev[i].handle) == 0) any = 1;
        else lw_log("no NVML device for configured device %d; its compute limit is NOT enforced", i);
    }
    if (!any) return NULL;
    lw_region *r = lw_state.region;
    uint64_t period = (uint64_t)lw_state.period_ms * 1000000ULL;
    int32_t me = (int32_t)getpid();
    for (;;) {
        int baselined = 0;
        uint64_t now = now_ns();
        int32_t owner = atomic_load(&r->sampler_pid);
        uint64_t beat = atomic_load(&r->sampler_beat_ns);
        /* One process samples for the whole container; another takes over when it stops. */
        int mine = owner == me || now - beat > 3 * period || beat > now;
        if (mine && owner != me) mine = atomic_compare_exchange_strong(&r->sampler_pid, &owner, me);
        if (mine) {
            atomic_store(&r->sampler_beat_ns, now);
            for (int i = 0; i < LW_MAX_DEVICES; i++) {
                if (!lw_state.cfg.devices[i].present || s.dev[i].handle == NULL) continue;
                baselined |= !s.dev[i].ready;
                sample(i, now);
            }
        } else {
            for (int i = 0; i < LW_MAX_DEVICES; i++) s.dev[i].ready = 0;
        }
        /* Right after a baseline the next look comes early, so an unthrottled start stays short. */
        sleep_ns(baselined ? period / 4 : period);
    }
    return NULL;
}

static void start_sampler(void) {
    /* A process that launches before it allocates must still be in the region's pid list, or the
     * sampler would not count its utilisation towards the container's (and the limit would hold
     * per process, not for the container). */
    (void)lw_my_slot();
    int expected = 0;
    if (!atomic_compare_exchange_strong(&sampler_started, &expected, 1)) return;
    /* The application's signals belong to its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, sampler_main, NULL) != 0)
        lw_log("cannot start the utilisation sampler; the compute limit is NOT enforced");
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void lw_throttle_after_fork(void) { atomic_store(&sampler_started, 0); }

void lw_throttle(int dev, uint64_t tokens) {
    lw_bucket *b = &lw_state.region->bucket[dev];
    if (!atomic_load_explicit(&sampler_started, memory_order_relaxed)) start_sampler();
    atomic_fetch_add_explicit(&b->launched, tokens, memory_order_relaxed);
    /* Not calibrated yet: let it run, the launches are what the first measurement needs. */
    if (atomic_load_explicit(&b->rate, memory_order_relaxed) <= 0) return;
    /* Refilling is lazy, on the first shortfall: the bucket's cap bounds what idle time can add,
     * so this is the same bucket, and a launch that finds tokens pays no clock read. */
    int64_t left = atomic_fetch_sub_explicit(&b->tokens, (int64_t)tokens, memory_order_acq_rel) - (int64_t)tokens;
    if (left >= 0) return;
    uint64_t now = now_ns();
    refill(b, now);
    left = atomic_load_explicit(&b->tokens, memory_order_acquire);
    if (left >= 0) return;
    atomic_store_explicit(&b->waited, 1, memory_order_relaxed);
    uint64_t deadline = now + MAX_WAIT_NS;
    uint64_t period = (uint64_t)lw_state.period_ms * 1000000ULL;
    while (left < 0 && now < deadline) {
        int64_t rate = atomic_load_explicit(&b->rate, memory_order_relaxed);
        if (rate <= 0) break;
        uint64_t wait = (uint64_t)((__int128)(-left) * 1000000000 / rate);
        if (wait < 20000) wait = 20000;
        if (wait > period) wait = period;
        sleep_ns(wait);
        now = now_ns();
        refill(b, now);
        left = atomic_load_explicit(&b->tokens, memory_order_acquire);
    }
}

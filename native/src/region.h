/* The container's shared accounting: a file-backed mmap that every process of the container maps,
 * guarded by a robust process-shared mutex, with one slot per live process. */
#ifndef LOADWISE_REGION_H
#define LOADWISE_REGION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define LW_REGION_MAGIC 0x6c777667u /* "lwvg" */
#define LW_REGION_VERSION 1u
#define LW_MAX_SLOTS 128

typedef struct {
    int32_t pid;
    uint32_t reserved;
    uint64_t start_time; /* /proc/<pid>/stat field 22: tells a reused pid from the original */
    uint64_t used[LW_MAX_DEVICES];
} lw_slot;

/* One token bucket per device, shared by all processes; updated lock-free with atomics. */
typedef struct {
    _Atomic int64_t tokens;
    _Atomic uint64_t last_refill_ns;
    _Atomic int64_t rate;       /* tokens per second; 0 while not yet calibrated */
    _Atomic uint64_t launched;  /* tokens charged since the region was created */
    _Atomic uint32_t waited;    /* a launcher had to wait since the last sample */
    _Atomic uint32_t util;      /* the container's last measured utilisation, percent */
    double capacity;            /* tokens per second at 100%; written by the sampler only */
} lw_bucket;

typedef struct {
    uint32_t magic;
    uint32_t version;
    uint32_t size;
    uint32_t reserved;
    pthread_mutex_t lock;
    uint64_t used[LW_MAX_DEVICES];
    _Atomic int32_t sampler_pid;
    _Atomic uint64_t sampler_beat_ns;
    lw_bucket bucket[LW_MAX_DEVICES];
    lw_slot slots[LW_MAX_SLOTS];
} lw_region;

/* Maps (creating if needed) the region at `path`; NULL with a message in err when it cannot. */
lw_region *lw_region_open(const char *path, char *err, size_t errlen);
/* A region private to this process: accounting still works, just not across processes. */
lw_region *lw_region_private(void);

/* Takes the lock; when its holder died, repairs the totals first. 0 on success. */
int lw_region_lock(lw_region *r);
void lw_region_unlock(lw_region *r);

/* Claims a slot for this process (call with the lock held); -1 when all are taken by live ones. */
int lw_region_attach(lw_region *r);
/* Frees the slots of processes that no longer exist and recomputes the totals (lock held). */
int lw_region_reclaim(lw_region *r);

/* Adds bytes to `slot` on `dev` unless that takes the container past `limit`; reclaims dead
 * processes' slots before saying no. 0: reserved; -1: over the limit; *used_out gets the total. */
int lw_region_reserve(lw_region *r, int slot, int dev, uint64_t bytes, uint64_t limit, uint64_t *used_out);
void lw_region_release(lw_region *r, int slot, int dev, uint64_t bytes);
uint64_t lw_region_used(lw_region *r, int dev);
/* A forked child starts with nothing charged (its parent's record is not its own). */
void lw_region_after_fork(void);

/* Whether pid is alive and still the process that had start_time (0: do not compare). */
int lw_pid_alive(pid_t pid, uint64_t start_time);
uint64_t lw_process_start_time(pid_t pid);

#endif

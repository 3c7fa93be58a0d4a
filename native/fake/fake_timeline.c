/* The fake GPU's kernel timelines (see fake_timeline.h). A device's kernels form one FIFO queue:
 * each starts at max(launch time, end of the queue). Busy time is exact: the device has been busy
 * for all work queued minus what is still ahead of "now". Per process, the kernels still pending
 * are kept in a ring (a real driver also bounds pending launches; a full ring makes a launch wait),
 * so a process's busy time is its retired kernels plus the elapsed part of its pending ones.
 *
 * Shared mode (FAKE_GPU_SHARED_STATE=<file>): the timelines live in that file, mmap'd by every
 * process, under a robust process-shared mutex per device, so NVML's utilisation and the queue
 * both reflect every process's kernels, as on a real GPU several processes share. */
#define _GNU_SOURCE
#include "fake_timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake_gpu.h"

#define FT_MAGIC 0x66746c31u /* "ftl1" */
#define FT_MAX_PENDING 1024

typedef struct {
    uint64_t start, end;
    int32_t proc;
    uint32_t reserved;
} ft_kernel;

typedef struct {
    int32_t pid;
    uint32_t reserved;
    uint64_t retired_ns; /* kernel time of this process's kernels that have finished */
    uint64_t last_end;   /* end of this process's latest kernel */
    uint64_t since_ns;   /* when it first launched */
} ft_proc;

typedef struct {
    pthread_mutex_t mu;
    uint64_t busy_until;
    uint64_t queued_ns; /* all kernel time ever queued on the device */
    uint32_t head, count;
    ft_kernel pending[FT_MAX_PENDING];
    ft_proc procs[FT_MAX_PROCS];
} ft_device;

typedef struct {
    uint32_t magic;
    uint32_t size;
    ft_device dev[FT_MAX_DEV];
} ft_state;

static ft_state private_state;
static ft_state *st = &private_state;
static uint64_t queue_limit_ns;
/* getpid() is a system call on every launch otherwise; a forked child learns its own at fork. */
static int32_t my_pid;

static void after_fork_child(void) { my_pid = (int32_t)getpid(); }

static void init_state(ft_state *s) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    for (int i = 0; i < FT_MAX_DEV; i++) pthread_mutex_init(&s->dev[i].mu, &a);
    pthread_mutexattr_destroy(&a);
    s->size = (uint32_t)sizeof(*s);
    s->magic = FT_MAGIC;
}

/* The shared file: created zero-filled and initialised once, under flock so that two processes
 * starting together agree on who does it. */
static ft_state *map_shared(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return NULL;
    ft_state *s = NULL;
    struct stat sb;
    if (flock(fd, LOCK_EX) == 0 && fstat(fd, &sb) == 0 &&
        (sb.st_size >= (off_t)sizeof(ft_state) || ftruncate(fd, sizeof(ft_state)) == 0)) {
        void *m = mmap(NULL, sizeof(ft_state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            s = m;
            if (s->magic == 0) init_state(s);
            if (s->magic != FT_MAGIC || s->size != sizeof(ft_state)) {
                munmap(m, sizeof(ft_state));
                s = NULL;
            }
        }
    }
    /* Unlock explicitly: the mapping keeps the open file, and with it the flock, past close. */
    flock(fd, LOCK_UN);
    close(fd);
    return s;
}

void ft_setup(uint64_t queue_ns) {
    queue_limit_ns = queue_ns;
    my_pid = (int32_t)getpid();
    pthread_atfork(NULL, NULL, after_fork_child);
    const char *path = getenv("FAKE_GPU_SHARED_STATE");
    if (path != NULL && *path != '\0') {
        ft_state *s = map_shared(path);
        if (s != NULL) {
            st = s;
            return;
        }
        fprintf(stderr, "fake GPU: cannot use FAKE_GPU_SHARED_STATE=%s (%s); this process has its own GPU\n",
                path, strerror(errno));
    }
    init_state(&private_state);
}

static void lock(ft_device *d) {
    /* A process killed mid-update leaves at worst a slightly wrong timeline: good enough for a fake. */
    if (pthread_mutex_lock(&d->mu) == EOWNERDEAD) pthread_mutex_consistent(&d->mu);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)};
    nanosleep(&ts, NULL);
}

/* Moves kernels that have finished by `now` out of the ring into their process's total. */
static void retire(ft_device *d, uint64_t now) {
    while (d->count > 0) {
        ft_kernel *k = &d->pending[d->head];
        if (k->end > now) break;
        d->procs[k->proc].retired_ns += k->end - k->start;
        d->head = (d->head + 1) % FT_MAX_PENDING;
        d->count--;
    }
}

static int has_pending(ft_device *d, int proc) {
    for (uint32_t i = 0; i < d->count; i++)
        if (d->pending[(d->head + i) % FT_MAX_PENDING].proc == proc) return 1;
    return 0;
}

/* This process's slot on the device (lock held): its own, a free one, or one a dead process left
 * with nothing pending. -1 when all are taken. */
static int proc_slot(ft_device *d) {
    /* The slot found last time, checked by pid (a forked child must not take its parent's). */
    static __thread int cached[FT_MAX_DEV] = {-1, -1, -1, -1, -1, -1, -1, -1};
    int32_t me = my_pid;
    int dev = (int)(d - st->dev);
    if (cached[dev] >= 0 && d->procs[cached[dev]].pid == me) return cached[dev];
    int free_slot = -1;
    for (int i = 0; i < FT_MAX_PROCS; i++) {
        int32_t pid = d->procs[i].pid;
        if (pid == me) return cached[dev] = i;
        if (free_slot < 0 && (pid == 0 || (kill(pid, 0) != 0 && errno == ESRCH && !has_pending(d, i))))
            free_slot = i;
    }
    if (free_slot >= 0) d->procs[free_slot] = (ft_proc){.pid = me, .since_ns = fakeNowNs()};
    return cached[dev] = free_slot;
}

uint64_t ft_enqueue(int dev, uint64_t ns) {
    ft_device *d = &st->dev[dev];
    uint64_t now = fakeNowNs();
    lock(d);
    retire(d, now);
    /* A full queue makes the launch wait, as a real driver's does. */
    while (d->busy_until > now + queue_limit_ns || d->count == FT_MAX_PENDING) {
        uint64_t until = d->count == FT_MAX_PENDING ? d->pending[d->head].end : d->busy_until - queue_limit_ns;
        pthread_mutex_unlock(&d->mu);
        if (until > now) sleep_ns(until - now);
        now = fakeNowNs();
        lock(d);
        retire(d, now);
    }
    int p = proc_slot(d);
    uint64_t end = now;
    if (ns > 0) {
        uint64_t start = d->busy_until > now ? d->busy_until : now;
        end = start + ns;
        d->busy_until = end;
        d->queued_ns += ns;
        if (p >= 0) {
            d->pending[(d->head + d->count) % FT_MAX_PENDING] = (ft_kernel){start, end, p, 0};
            d->count++;
            d->procs[p].last_end = end;
        }
    } else if (p >= 0 && d->procs[p].last_end > end) {
        end = d->procs[p].last_end;
    }
    pthread_mutex_unlock(&d->mu);
    return end;
}

uint64_t ft_process_done(int dev) {
    ft_device *d = &st->dev[dev];
    int32_t me = my_pid;
    uint64_t done = 0;
    lock(d);
    for (int i = 0; i < FT_MAX_PROCS; i++)
        if (d->procs[i].pid == me) done = d->procs[i].last_end;
    pthread_mutex_unlock(&d->mu);
    return done;
}

uint64_t ft_busy(int dev) {
    ft_device *d = &st->dev[dev];
    lock(d);
    uint64_t now = fakeNowNs();
    uint64_t ahead = d->busy_until > now ? d->busy_until - now : 0;
    uint64_t busy = d->queued_ns - ahead;
    pthread_mutex_unlock(&d->mu);
    return busy;
}

uint64_t ft_process_busy(int dev, int32_t pid) {
    ft_device *d = &st->dev[dev];
    uint64_t busy = 0;
    lock(d);
    uint64_t now = fakeNowNs();
    retire(d, now);
    for (int p = 0; p < FT_MAX_PROCS; p++) {
        if (d->procs[p].pid != pid) continue;
        busy = d->procs[p].retired_ns;
        for (uint32_t i = 0; i < d->count; i++) {
            ft_kernel *k = &d->pending[(d->head + i) % FT_MAX_PENDING];
            if (k->proc == p && k->start < now) busy += (k->end < now ? k->end : now) - k->start;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return busy;
}

int ft_processes(int dev, int *pids, uint64_t *since_ns, int max) {
    ft_device *d = &st->dev[dev];
    int n = 0;
    lock(d);
    for (int p = 0; p < FT_MAX_PROCS && n < max; p++) {
        if (d->procs[p].pid == 0) continue;
        since_ns[n] = d->procs[p].since_ns;
        pids[n++] = d->procs[p].pid;
    }
    pthread_mutex_unlock(&d->mu);
    return n;
}

#define _GNU_SOURCE
#include "region.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Field 3 (state) and field 22 (start time) of /proc/<pid>/stat; 0 when unreadable. */
static int read_stat(pid_t pid, char *state, uint64_t *start_time) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ') return 0;
    *state = p[2];
    /* From field 3 to field 22 are 19 more separators. */
    for (int field = 3; field < 22 && p != NULL; field++) p = strchr(p + 1, ' ');
    if (p == NULL) return 0;
    unsigned long long v = 0;
    if (sscanf(p + 1, "%llu", &v) != 1) return 0;
    *start_time = v;
    return 1;
}

uint64_t lw_process_start_time(pid_t pid) {
    char state;
    uint64_t start = 0;
    return read_stat(pid, &state, &start) ? start : 0;
}

int lw_pid_alive(pid_t pid, uint64_t start_time) {
    if (pid <= 0) return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
    char state;
    uint64_t now = 0;
    /* Unreadable /proc: kill() said the pid exists, so keep it. */
    if (!read_stat(pid, &state, &now)) return 1;
    /* A zombie has released its GPU memory; a different start time is a reused pid. */
    if (state == 'Z' || state == 'X') return 0;
    return start_time == 0 || now == start_time;
}

static void init_lock(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static void init_region(lw_region *r) {
    memset(r, 0, sizeof(*r));
    init_lock(&r->lock);
    r->version = LW_REGION_VERSION;
    r->size = (uint32_t)sizeof(*r);
    /* magic last: a reader that sees it sees an initialised lock. */
    __atomic_store_n(&r->magic, LW_REGION_MAGIC, __ATOMIC_RELEASE);
}

lw_region *lw_region_open(const char *path, char *err, size_t errlen) {
    /* Owner-only and never through a symlink: another user in the container cannot rewrite the
     * accounting, and nobody can point it at a file of their choosing. */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the shared region %s: %s", path, strerror(errno));
        return NULL;
    }
    /* flock serialises first-time initialisation between processes that start together. */
    if (flock(fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    lw_region *r = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    /* One someone else made (another user, or writable by others) may have been shaped to lie. */
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
        snprintf(err, errlen, "the shared region %s is not a private file of this user (uid %u, mode %04o)", path,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    int fresh = st.st_size == 0;
    if (fresh) (void)fchmod(fd, 0600); /* whatever the umask left */
    if (fresh && ftruncate(fd, (off_t)sizeof(lw_region)) != 0) {
        snprintf(err, errlen, "cannot size %s: %s", path, strerror(errno));
        goto out;
    }
    if (!fresh && st.st_size != (off_t)sizeof(lw_region)) {
        snprintf(err, errlen, "%s has %lld bytes, expected %zu (another library version?)", path,
                 (long long)st.st_size, sizeof(lw_region));
        goto out;
    }
    void *p = mmap(NULL, sizeof(lw_region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
        goto out;
    }
    r = p;
    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != LW_REGION_MAGIC) {
        init_region(r);
    } else if (r->version != LW_REGION_VERSION || r->size != sizeof(lw_region)) {
        snprintf(err, errlen, "%s was written by another library version", path);
        munmap(p, sizeof(lw_region));
        r = NULL;
    }
out:
    flock(fd, LOCK_UN);
    close(fd);
    return r;
}

lw_region *lw_region_private(void) {
    void *p = mmap(NULL, sizeof(lw_region), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    init_region(p);
    return p;
}

static void recompute(lw_region *r) {
    for (int d = 0; d < LW_MAX_DEVICES; d++) {
        uint64_t sum = 0;
        for (int s = 0; s < LW_MAX_SLOTS; s++)
            if (r->slots[s].pid != 0) sum += r->slots[s].used[d];
        r->used[d] = sum;
    }
}

int lw_region_lock(lw_region *r) {
    int rc = pthread_mutex_lock(&r->lock);
    if (rc == EOWNERDEAD) {
        /* The holder died mid-update: its slot and the totals may disagree, so rebuild them. */
        lw_region_reclaim(r);
        pthread_mutex_consistent(&r->lock);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

void lw_region_unlock(lw_region *r) { pthread_mutex_unlock(&r->lock); }

int lw_region_reclaim(lw_region *r) {
    int freed = 0;
    for (int s = 0; s < LW_MAX_SLOTS; s++) {
        lw_slot *slot = &r->slots[s];
        if (slot->pid != 0 && !lw_pid_alive(slot->pid, slot->start_time)) {
            memset(slot, 0, sizeof(*slot));
            freed++;
        }
    }
    recompute(r);
    return freed;
}

int lw_region_attach(lw_region *r) {
    pid_t me = getpid();
    uint64_t start = lw_process_start_time(me);
    for (int pass = 0; pass < 2; pass++) {
        for (int s = 0; s < LW_MAX_SLOTS; s++) {
            lw_slot *slot = &r->slots[s];
            if (slot->pid == 0) {
                memset(slot, 0, sizeof(*slot));
                slot->start_time = start;
                slot->pid = me;
                return s;
            }
        }
        if (lw_region_reclaim(r) == 0) break;
    }
    return -1;
}

/* What this process has charged, per device: its own record, outside the region, against which
 * its slot is checked. The region is writable by every process of the container (it must be, to
 * account), so another one could zero this slot to "free" the share; that is noticed here, logged
 * once, and undone on this process's next allocation or free. Lock held by the callers. */
static uint64_t own[LW_MAX_DEVICES];
static int told_tampered;

void lw_region_after_fork(void) { memset(own, 0, sizeof(own)); }

static void check_own_slot(lw_region *r, int slot) {
    lw_slot *s = &r->slots[slot];
    int same = s->pid == getpid();
    for (int d = 0; d < LW_MAX_DEVICES && same; d++) same = s->used[d] == own[d];
    if (same) return;
    if (!told_tampered++)
        lw_log("the shared region was changed behind this process's back (slot %d: pid %d, not %d, or its use "
               "rewritten); restored from this process's own record",
               slot, (int)s->pid, (int)getpid());
    s->pid = getpid();
    s->start_time = lw_process_start_time(getpid());
    memcpy(s->used, own, sizeof(own));
}

int lw_region_reserve(lw_region *r, int slot, int dev, uint64_t bytes, uint64_t limit, uint64_t *used_out) {
    if (lw_region_lock(r) != 0) return -1;
    check_own_slot(r, slot);
    /* The totals are derived, never trusted: recomputed from the slots. */
    recompute(r);
    int ok = 0;
    for (int pass = 0; pass < 2 && !ok; pass++) {
        if (pass == 1 && lw_region_reclaim(r) == 0) break;
        ok = r->used[dev] <= limit && bytes <= limit - r->used[dev];
    }
    if (ok) {
        r->used[dev] += bytes;
        r->slots[slot].used[dev] += bytes;
        own[dev] += bytes;
    }
    *used_out = r->used[dev];
    lw_region_unlock(r);
    return ok ? 0 : -1;
}

void lw_region_release(lw_region *r, int slot, int dev, uint64_t bytes) {
    if (lw_region_lock(r) != 0) return;
    check_own_slot(r, slot);
    lw_slot *s = &r->slots[slot];
    uint64_t mine = s->used[dev] < bytes ? s->used[dev] : bytes;
    s->used[dev] -= mine;
    own[dev] -= mine;
    recompute(r);
    lw_region_unlock(r);
}

uint64_t lw_region_used(lw_region *r, int dev) {
    if (lw_region_lock(r) != 0) return 0;
    uint64_t used = r->used[dev];
    lw_region_unlock(r);
    return used;
}

/* A chained hash table under one mutex: allocation calls are far rarer than launches, and the
 * driver call they wrap costs microseconds, so a lock here is not what a program waits on. */
#include "allocs.h"

#include <pthread.h>
#include <stdlib.h>

#define BUCKETS 4096

typedef struct node {
    struct node *next;
    uint64_t key;
    uint64_t bytes;
    int kind;
    int dev;
} node;

static node *table[BUCKETS];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket(lw_alloc_kind kind, uint64_t key) {
    uint64_t h = (key ^ (uint64_t)kind) * 0x9e3779b97f4a7c15ULL;
    return (unsigned)(h >> 52) & (BUCKETS - 1);
}

void lw_allocs_put(lw_alloc_kind kind, uint64_t key, int dev, uint64_t bytes) {
    node *n = malloc(sizeof(*n));
    /* Out of host memory: the allocation stays charged until the process exits; never crash. */
    if (n == NULL) return;
    n->key = key;
    n->bytes = bytes;
    n->kind = kind;
    n->dev = dev;
    unsigned b = bucket(kind, key);
    pthread_mutex_lock(&mutex);
    n->next = table[b];
    table[b] = n;
    pthread_mutex_unlock(&mutex);
}

int lw_allocs_find(lw_alloc_kind kind, uint64_t key, int take, int *dev, uint64_t *bytes) {
    unsigned b = bucket(kind, key);
    int found = 0;
    node *gone = NULL;
    pthread_mutex_lock(&mutex);
    for (node **p = &table[b]; *p != NULL; p = &(*p)->next) {
        node *n = *p;
        if (n->key == key && n->kind == (int)kind) {
            *dev = n->dev;
            *bytes = n->bytes;
            found = 1;
            if (take) {
                *p = n->next;
                gone = n;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mutex);
    free(gone);
    return found;
}

void lw_allocs_reset(void) {
    pthread_mutex_init(&mutex, NULL);
    for (int b = 0; b < BUCKETS; b++) table[b] = NULL;
}

/* This process's live allocations: what each pointer, handle or array was charged, and where. */
#ifndef LOADWISE_ALLOCS_H
#define LOADWISE_ALLOCS_H

#include <stdint.h>

typedef enum { LW_ALLOC_PTR = 1, LW_ALLOC_HANDLE = 2, LW_ALLOC_ARRAY = 3 } lw_alloc_kind;

void lw_allocs_put(lw_alloc_kind kind, uint64_t key, int dev, uint64_t bytes);
/* 1 and the record when found (and removes it if `take`); 0 otherwise. */
int lw_allocs_find(lw_alloc_kind kind, uint64_t key, int take, int *dev, uint64_t *bytes);
void lw_allocs_reset(void);

#endif

/* The library's process-wide state: the effective limits and the shared region, set up once. */
#ifndef LOADWISE_STATE_H
#define LOADWISE_STATE_H

#include "config.h"
#include "region.h"

typedef struct {
    int enabled;          /* limits are in force; 0 means every hook passes straight through */
    int closed;           /* failed closed: the config is unusable, every allocation is refused */
    char closed_why[512]; /* why, for the refusal messages */
    int throttled;        /* core_limit < 100 */
    int only_device;      /* the single configured device index, or -1 when there are several */
    unsigned period_ms;   /* utilisation sampling period */
    lw_config cfg;
    lw_region *region;
    char config_path[512];
} lw_state_t;

extern lw_state_t lw_state;

/* Loads the config once (thread-safe, idempotent); returns lw_state.enabled. */
int lw_init(void);
/* This process's slot in the region, claimed on first use (fork gives the child a new one). */
int lw_my_slot(void);

#endif

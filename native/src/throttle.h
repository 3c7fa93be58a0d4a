/* The compute limit: a token bucket per device, shared by the container's processes, whose refill
 * rate a sampling thread keeps at the limit's share of the measured capacity. */
#ifndef LOADWISE_THROTTLE_H
#define LOADWISE_THROTTLE_H

#include <stdint.h>

/* Charges `tokens` (a launch's thread blocks) to device `dev`; waits while the bucket is in debt. */
void lw_throttle(int dev, uint64_t tokens);
void lw_throttle_after_fork(void);

#endif

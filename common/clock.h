/*
 * common/clock.h - the monotonic clock, for durations and deadlines
 * (CLOCK_MONOTONIC: comparable across the processes of one boot).
 */
#ifndef BURROW_COMMON_CLOCK_H
#define BURROW_COMMON_CLOCK_H

#include <stdint.h>

uint64_t clock_now_ns(void);
int64_t clock_now_ms(void);

#endif /* BURROW_COMMON_CLOCK_H */

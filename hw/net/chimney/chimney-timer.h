/*
 * chimney-nic: the deadlines of every offloaded connection, one timer
 *
 * QEMU keeps its timers in a sorted linked list, so with a QEMUTimer per
 * connection every re-arm cost O(connections).  Here the connections'
 * deadlines are a binary min-heap whose entries know their position:
 * arming, moving and cancelling are O(log n), the earliest is O(1), and
 * the device arms one QEMUTimer at it.  Entries with equal deadlines
 * expire in the order they were armed.  Plain data, no QEMU timer, so
 * tests/unit/ checks it on its own.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_TIMER_H
#define HW_NET_CHIMNEY_TIMER_H

/* Embedded in what it times; all zeroes is a valid idle entry */
typedef struct ChimneyTimerEntry {
    int64_t deadline;       /* when armed */
    uint32_t slot;          /* its index in the heap + 1; 0: not armed */
    uint32_t order;         /* arming order, for equal deadlines */
} ChimneyTimerEntry;

typedef struct ChimneyTimers {
    ChimneyTimerEntry **heap;
    uint32_t count;
    uint32_t cap;
    uint32_t next_order;
} ChimneyTimers;

void chimney_timer_init(ChimneyTimers *t);
/* Every entry leaves (none is touched: they may be freed already) */
void chimney_timer_destroy(ChimneyTimers *t);
void chimney_timer_entry_init(ChimneyTimerEntry *e);

static inline bool chimney_timer_pending(const ChimneyTimerEntry *e)
{
    return e->slot != 0;
}

/* Arm @e at @deadline (>= 0), or move it there if armed already */
void chimney_timer_set(ChimneyTimers *t, ChimneyTimerEntry *e,
                       int64_t deadline);
/* Arm @e at @deadline unless it is armed no later; true if it moved */
bool chimney_timer_advance(ChimneyTimers *t, ChimneyTimerEntry *e,
                           int64_t deadline);
void chimney_timer_cancel(ChimneyTimers *t, ChimneyTimerEntry *e);
/* The earliest deadline, -1 when nothing is armed */
int64_t chimney_timer_next(const ChimneyTimers *t);
/* Take out and return the earliest entry due at @now, NULL when none */
ChimneyTimerEntry *chimney_timer_expire(ChimneyTimers *t, int64_t now);
/* Every entry leaves the heap and is marked idle */
void chimney_timer_clear(ChimneyTimers *t);

#endif /* HW_NET_CHIMNEY_TIMER_H */

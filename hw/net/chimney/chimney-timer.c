/*
 * chimney-nic: the deadlines of every offloaded connection, one timer
 *
 * A binary min-heap of entry pointers ordered by (deadline, arming
 * order); each entry records its index so it can be moved or taken out
 * from anywhere.  See chimney-timer.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/net/chimney/chimney-timer.h"

#define CHIMNEY_TIMER_MIN_CAP   16

void chimney_timer_init(ChimneyTimers *t)
{
    memset(t, 0, sizeof(*t));
}

void chimney_timer_destroy(ChimneyTimers *t)
{
    g_free(t->heap);
    memset(t, 0, sizeof(*t));
}

void chimney_timer_entry_init(ChimneyTimerEntry *e)
{
    memset(e, 0, sizeof(*e));
}

/*
 * a before b.  The arming order is compared across its 32-bit wrap: it
 * only orders entries of equal deadline, which keeps the heap valid
 * whatever it says.
 */
static bool chimney_timer_before(const ChimneyTimerEntry *a,
                                 const ChimneyTimerEntry *b)
{
    if (a->deadline != b->deadline) {
        return a->deadline < b->deadline;
    }
    return (int32_t)(a->order - b->order) < 0;
}

static void chimney_timer_place(ChimneyTimers *t, ChimneyTimerEntry *e,
                                uint32_t pos)
{
    t->heap[pos] = e;
    e->slot = pos + 1;
}

static void chimney_timer_up(ChimneyTimers *t, uint32_t pos)
{
    ChimneyTimerEntry *e = t->heap[pos];

    while (pos) {
        uint32_t parent = (pos - 1) / 2;

        if (!chimney_timer_before(e, t->heap[parent])) {
            break;
        }
        chimney_timer_place(t, t->heap[parent], pos);
        pos = parent;
    }
    chimney_timer_place(t, e, pos);
}

static void chimney_timer_down(ChimneyTimers *t, uint32_t pos)
{
    ChimneyTimerEntry *e = t->heap[pos];

    for (;;) {
        uint32_t child = 2 * pos + 1;

        if (child >= t->count) {
            break;
        }
        if (child + 1 < t->count &&
            chimney_timer_before(t->heap[child + 1], t->heap[child])) {
            child++;
        }
        if (!chimney_timer_before(t->heap[child], e)) {
            break;
        }
        chimney_timer_place(t, t->heap[child], pos);
        pos = child;
    }
    chimney_timer_place(t, e, pos);
}

/* Take @e out; the last entry fills its place */
static void chimney_timer_remove(ChimneyTimers *t, ChimneyTimerEntry *e)
{
    uint32_t pos = e->slot - 1;
    ChimneyTimerEntry *last = t->heap[--t->count];

    e->slot = 0;
    if (last == e) {
        return;
    }
    chimney_timer_place(t, last, pos);
    if (pos && chimney_timer_before(last, t->heap[(pos - 1) / 2])) {
        chimney_timer_up(t, pos);
    } else {
        chimney_timer_down(t, pos);
    }
}

void chimney_timer_set(ChimneyTimers *t, ChimneyTimerEntry *e,
                       int64_t deadline)
{
    assert(deadline >= 0);
    if (chimney_timer_pending(e)) {
        chimney_timer_remove(t, e);
    }
    if (t->count == t->cap) {
        t->cap = MAX(t->cap * 2, CHIMNEY_TIMER_MIN_CAP);
        t->heap = g_renew(ChimneyTimerEntry *, t->heap, t->cap);
    }
    e->deadline = deadline;
    e->order = t->next_order++;
    chimney_timer_place(t, e, t->count++);
    chimney_timer_up(t, e->slot - 1);
}

bool chimney_timer_advance(ChimneyTimers *t, ChimneyTimerEntry *e,
                           int64_t deadline)
{
    if (chimney_timer_pending(e) && e->deadline <= deadline) {
        return false;
    }
    chimney_timer_set(t, e, deadline);
    return true;
}

void chimney_timer_cancel(ChimneyTimers *t, ChimneyTimerEntry *e)
{
    if (chimney_timer_pending(e)) {
        chimney_timer_remove(t, e);
    }
}

int64_t chimney_timer_next(const ChimneyTimers *t)
{
    return t->count ? t->heap[0]->deadline : -1;
}

ChimneyTimerEntry *chimney_timer_expire(ChimneyTimers *t, int64_t now)
{
    ChimneyTimerEntry *e;

    if (!t->count || t->heap[0]->deadline > now) {
        return NULL;
    }
    e = t->heap[0];
    chimney_timer_remove(t, e);
    return e;
}

void chimney_timer_clear(ChimneyTimers *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        t->heap[i]->slot = 0;
    }
    t->count = 0;
    g_free(t->heap);
    t->heap = NULL;
    t->cap = 0;
}

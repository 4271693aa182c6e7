/*
 * chimney-nic: fault injection on the completions of offloaded connections
 *
 * Rules act between "a completion is ready" and "its entry is written /
 * its interrupt is raised": they delay, hold, fail, reorder (across
 * connections only), coalesce, or delay or drop the interrupt.  Time is
 * QEMU_CLOCK_VIRTUAL and randomness a seeded PRNG, so the same seed and
 * workload give the same completion sequence.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_FAULT_H
#define HW_NET_CHIMNEY_FAULT_H

#include "qemu/timer.h"
#include "hw/net/chimney/chimney-abi.h"

#define CHIMNEY_FAULT_MAX_RULES 16

typedef enum {
    CHIMNEY_FA_DELAY = 1,
    CHIMNEY_FA_HOLD,
    CHIMNEY_FA_FAIL,
    CHIMNEY_FA_REORDER,
    CHIMNEY_FA_COALESCE,
    CHIMNEY_FA_IRQ_DELAY,
    CHIMNEY_FA_IRQ_DROP,
} ChimneyFaultAction;

typedef enum {
    CHIMNEY_FD_FIXED,
    CHIMNEY_FD_UNIFORM,
    CHIMNEY_FD_EXP,
} ChimneyFaultDist;

typedef struct ChimneyFaultRule {
    ChimneyFaultAction action;
    ChimneyFaultDist dist;
    int64_t a_ns, b_ns;         /* delay, window, period (see the parser) */
    uint32_t count;             /* coalesce: completions per release */
    uint8_t fail_status;
    int64_t fail_bytes;         /* -1: none acknowledged */
    /* selectors, -1 = any */
    int64_t conn, lport, rport, cq;
    uint32_t types;             /* bit per CHIMNEY_CQE_* type, 0 = any */
    /* which matches fire */
    uint64_t nth, every, max;
    double prob;                /* 0: always */
    uint64_t matched, fired;
} ChimneyFaultRule;

typedef struct ChimneyFaultStats {
    uint64_t seen, delayed, held, released, failed, reordered, coalesced,
             irq_delayed, irq_dropped;
} ChimneyFaultStats;

typedef struct ChimneyFault {
    ChimneyFaultRule rules[CHIMNEY_FAULT_MAX_RULES];
    int nrules;
    char *text;
    uint64_t seed;
    uint64_t rng;
    uint64_t seq;               /* order in which completions got ready */
    ChimneyFaultStats stats;
    QEMUTimer *timer;           /* releases and coalescing periods */
    QEMUTimer *irq_timer;       /* late interrupts */
    int64_t irq_due[CHIMNEY_MAX_CQS];  /* late interrupt per CQ, -1: none */
    uint32_t coalesce_waiting;
    uint64_t coalesce_gen;      /* entries of older generations may go */
    int64_t coalesce_deadline;
} ChimneyFault;

typedef struct ChimneyState ChimneyState;
typedef struct ChimneyConn ChimneyConn;
typedef struct ChimneyPending ChimneyPending;

bool chimney_fault_parse(const char *text, ChimneyFaultRule *rules,
                         int *nrules, Error **errp);
void chimney_fault_init(ChimneyState *s);
void chimney_fault_exit(ChimneyState *s);
void chimney_fault_finalize(ChimneyState *s);
void chimney_fault_reset(ChimneyState *s);
void chimney_fault_decide(ChimneyState *s, ChimneyConn *conn,
                          ChimneyPending *pe);
bool chimney_fault_ready(ChimneyState *s, ChimneyConn *conn,
                         const ChimneyPending *pe);
void chimney_fault_posted(ChimneyState *s, ChimneyConn *conn,
                          const ChimneyPending *pe);
void chimney_fault_work(ChimneyState *s);
bool chimney_fault_set_rules(ChimneyFault *f, const char *text, Error **errp);
void chimney_fault_set_seed(ChimneyFault *f, uint64_t seed);

#endif /* HW_NET_CHIMNEY_FAULT_H */

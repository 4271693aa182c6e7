/*
 * chimney-nic: fault injection on the completions of offloaded connections
 *
 * A completion of an offloaded connection (send, disconnect, connection
 * command, event) passes chimney_fault_decide() when it becomes ready and
 * chimney_fault_ready() before its entry is written.  Rules come from the
 * "x-fault-rules" property, at start (-device) or at run time (qom-set):
 *
 *   rule [; rule]...      fields separated by spaces (or ",," on -device)
 *   actions   delay=DUR | delay=uniform:DUR:DUR | delay=exp:DUR | hold |
 *             fail=aborted|upload|error [bytes=N] | reorder=DUR |
 *             coalesce=K | coalesce=K:DUR | irq-delay=DUR | irq-drop
 *   selectors conn=N lport=N rport=N cq=N type=send|disconnect|cmd|event
 *             (type may repeat)
 *   counting  once | nth=N | every=N | max=K | prob=P
 *   DUR       a number with ns, us, ms or s
 *
 * Per connection the order never changes: a completion is released no
 * earlier than the one before it.  A full CQ still holds completions
 * back.  Everything is on QEMU_CLOCK_VIRTUAL; random draws come from a
 * splitmix64 generator seeded by "x-fault-seed" on reset and rule change.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qemu/cutils.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/net/chimney/chimney.h"
#include "trace.h"

/* --- parsing --- */

static bool fault_duration(const char *v, int64_t *ns)
{
    static const struct {
        const char *suffix;
        int64_t scale;
    } units[] = {
        { "ns", 1 }, { "us", SCALE_US }, { "ms", SCALE_MS },
        { "s", NANOSECONDS_PER_SECOND },
    };
    const char *end;
    uint64_t n;

    if (!v || qemu_strtou64(v, &end, 10, &n) || end == v) {
        return false;
    }
    if (!*end) {
        *ns = n;
        return n <= INT64_MAX;
    }
    for (int i = 0; i < ARRAY_SIZE(units); i++) {
        if (!strcmp(end, units[i].suffix)) {
            if (n > INT64_MAX / units[i].scale) {
                return false;
            }
            *ns = n * units[i].scale;
            return true;
        }
    }
    return false;
}

static bool fault_number(const char *v, uint64_t *n)
{
    return v && *v && !qemu_strtou64(v, NULL, 10, n);
}

/* @now + @d, saturated: a delay near INT64_MAX means "never" */
static int64_t fault_deadline(int64_t now, int64_t d)
{
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

static bool fault_action(ChimneyFaultRule *r, const char *key, const char *v,
                         Error **errp)
{
    if (r->action) {
        error_setg(errp, "more than one action");
        return false;
    }
    if (!strcmp(key, "hold") || !strcmp(key, "irq-drop")) {
        if (v) {
            error_setg(errp, "'%s' takes no value", key);
            return false;
        }
        r->action = key[0] == 'h' ? CHIMNEY_FA_HOLD : CHIMNEY_FA_IRQ_DROP;
        return true;
    }
    if (!v) {
        error_setg(errp, "'%s' needs a value", key);
        return false;
    }
    if (!strcmp(key, "delay")) {
        /* g_strsplit("") is an empty vector: p[0] may be NULL */
        g_auto(GStrv) p = g_strsplit(v, ":", 3);

        r->action = CHIMNEY_FA_DELAY;
        if (!p[0]) {
            error_setg(errp, "'delay' needs a duration");
            return false;
        }
        if (!strcmp(p[0], "uniform") && p[1] && p[2] &&
            fault_duration(p[1], &r->a_ns) && fault_duration(p[2], &r->b_ns) &&
            r->a_ns <= r->b_ns) {
            r->dist = CHIMNEY_FD_UNIFORM;
        } else if (!strcmp(p[0], "exp") && p[1] && !p[2] &&
                   fault_duration(p[1], &r->a_ns)) {
            r->dist = CHIMNEY_FD_EXP;
        } else if (!p[1] && fault_duration(p[0], &r->a_ns)) {
            r->dist = CHIMNEY_FD_FIXED;
        } else {
            error_setg(errp, "bad delay '%s' (DUR, uniform:MIN:MAX or "
                       "exp:MEAN)", v);
            return false;
        }
        return true;
    }
    if (!strcmp(key, "reorder") || !strcmp(key, "irq-delay")) {
        r->action = key[0] == 'r' ? CHIMNEY_FA_REORDER : CHIMNEY_FA_IRQ_DELAY;
        if (!fault_duration(v, &r->a_ns) ||
            (r->action == CHIMNEY_FA_REORDER && !r->a_ns)) {
            error_setg(errp, "bad duration '%s'", v);
            return false;
        }
        return true;
    }
    if (!strcmp(key, "coalesce")) {
        g_auto(GStrv) p = g_strsplit(v, ":", 2);
        uint64_t k;

        r->action = CHIMNEY_FA_COALESCE;
        if (!p[0] || !fault_number(p[0], &k) || k < 1 || k > 65536 ||
            (p[1] && (!fault_duration(p[1], &r->a_ns) || !r->a_ns))) {
            error_setg(errp, "bad coalesce '%s' (K or K:DUR)", v);
            return false;
        }
        r->count = k;
        return true;
    }
    if (!strcmp(key, "fail")) {
        r->action = CHIMNEY_FA_FAIL;
        if (!strcmp(v, "aborted")) {
            r->fail_status = CHIMNEY_ST_REQUEST_ABORTED;
        } else if (!strcmp(v, "upload")) {
            r->fail_status = CHIMNEY_ST_UPLOAD_IN_PROGRESS;
        } else if (!strcmp(v, "error")) {
            r->fail_status = CHIMNEY_ST_DMA_ERROR;
        } else {
            error_setg(errp, "bad status '%s' (aborted, upload or error)", v);
            return false;
        }
        return true;
    }
    error_setg(errp, "unknown key '%s'", key);
    return false;
}

static bool fault_field(ChimneyFaultRule *r, const char *field, Error **errp)
{
    g_autofree char *key = g_strdup(field);
    char *v = strchr(key, '=');
    uint64_t n;

    if (v) {
        *v++ = '\0';
    }
    if (!strcmp(key, "once") && !v) {
        r->max = 1;
        return true;
    }
    if (!strcmp(key, "type")) {
        static const char *const names[] = {
            [CHIMNEY_CQE_ADMIN] = "cmd", [CHIMNEY_CQE_SEND] = "send",
            [CHIMNEY_CQE_RECV] = "recv", [CHIMNEY_CQE_EVENT] = "event",
            [CHIMNEY_CQE_DISCONNECT] = "disconnect",
            [CHIMNEY_CQE_INDICATE] = "indicate",
        };

        for (int i = 0; v && i < ARRAY_SIZE(names); i++) {
            if (names[i] && !strcmp(v, names[i])) {
                r->types |= 1u << i;
                return true;
            }
        }
        error_setg(errp, "bad type '%s' (send, disconnect, recv, indicate, "
                   "cmd, event)", v ? v : "");
        return false;
    }
    if (!strcmp(key, "prob")) {
        double p;

        if (!v || qemu_strtod_finite(v, NULL, &p) || p <= 0 || p > 1) {
            error_setg(errp, "bad probability '%s' (0 < P <= 1)", v ? v : "");
            return false;
        }
        r->prob = p;
        return true;
    }
    if (!strcmp(key, "conn") || !strcmp(key, "lport") ||
        !strcmp(key, "rport") || !strcmp(key, "cq") || !strcmp(key, "nth") ||
        !strcmp(key, "every") || !strcmp(key, "max") ||
        !strcmp(key, "bytes")) {
        if (!v || !fault_number(v, &n) || n > UINT32_MAX ||
            (!n && (key[0] == 'n' || key[0] == 'e' || key[0] == 'm'))) {
            error_setg(errp, "bad number for '%s'", key);
            return false;
        }
        switch (key[0]) {
        case 'c':
            *(key[1] == 'o' ? &r->conn : &r->cq) = n;
            break;
        case 'l':
            r->lport = n;
            break;
        case 'r':
            r->rport = n;
            break;
        case 'n':
            r->nth = n;
            break;
        case 'e':
            r->every = n;
            break;
        case 'm':
            r->max = n;
            break;
        default:
            r->fail_bytes = n;
            break;
        }
        return true;
    }
    return fault_action(r, key, v, errp);
}

/* Parse @text into @rules; on error nothing is changed. */
bool chimney_fault_parse(const char *text, ChimneyFaultRule *rules,
                         int *nrules, Error **errp)
{
    g_auto(GStrv) list = g_strsplit(text, ";", -1);
    ChimneyFaultRule parsed[CHIMNEY_FAULT_MAX_RULES];
    int n = 0;

    for (int i = 0; list[i]; i++) {
        g_auto(GStrv) fields = g_strsplit_set(list[i], " ,\t", -1);
        ChimneyFaultRule *r;
        bool empty = true;
        Error *err = NULL;

        for (int j = 0; fields[j]; j++) {
            empty &= !*fields[j];
        }
        if (empty) {
            continue;
        }
        if (n == CHIMNEY_FAULT_MAX_RULES) {
            error_setg(errp, "chimney-nic: more than %d fault rules",
                       CHIMNEY_FAULT_MAX_RULES);
            return false;
        }
        r = &parsed[n];
        *r = (ChimneyFaultRule) {
            .conn = -1, .lport = -1, .rport = -1, .cq = -1, .fail_bytes = -1,
        };
        for (int j = 0; fields[j]; j++) {
            if (*fields[j] && !fault_field(r, fields[j], &err)) {
                error_setg(errp, "chimney-nic: fault rule %d ('%s'): %s",
                           n + 1, g_strstrip(list[i]),
                           error_get_pretty(err));
                error_free(err);
                return false;
            }
        }
        if (!r->action) {
            error_setg(errp, "chimney-nic: fault rule %d ('%s') has no "
                       "action", n + 1, g_strstrip(list[i]));
            return false;
        }
        if (r->fail_bytes >= 0 && r->action != CHIMNEY_FA_FAIL) {
            error_setg(errp, "chimney-nic: fault rule %d: 'bytes' goes "
                       "with 'fail'", n + 1);
            return false;
        }
        n++;
    }
    memcpy(rules, parsed, n * sizeof(*rules));
    *nrules = n;
    return true;
}

/* --- deciding --- */

static uint64_t fault_random(ChimneyFault *f)
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);    /* splitmix64 */

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double fault_unit(ChimneyFault *f)
{
    return (fault_random(f) >> 11) / (double)(1ull << 53);
}

static int64_t fault_sample(ChimneyFault *f, const ChimneyFaultRule *r)
{
    double d;

    switch (r->dist) {
    case CHIMNEY_FD_UNIFORM:
        /* in double: b - a + 1 may not fit in int64_t */
        d = r->a_ns + fault_unit(f) * ((double)r->b_ns - r->a_ns + 1);
        break;
    case CHIMNEY_FD_EXP:
        d = -log1p(-fault_unit(f)) * r->a_ns;
        break;
    default:
        return r->a_ns;
    }
    /* A double beyond INT64_MAX does not convert: saturate */
    return d >= (double)INT64_MAX ? INT64_MAX : (int64_t)d;
}

static bool fault_matches(ChimneyFaultRule *r, ChimneyConn *conn,
                          const ChimneyPending *pe)
{
    return (r->conn < 0 || r->conn == conn->index) &&
           (r->lport < 0 || r->lport == conn->tcp.st.local_port) &&
           (r->rport < 0 || r->rport == conn->tcp.st.remote_port) &&
           (r->cq < 0 || r->cq == chimney_conn_cq(conn)) &&
           (!r->types || (r->types & (1u << pe->type)));
}

static bool fault_fires(ChimneyFault *f, ChimneyFaultRule *r)
{
    uint64_t k = ++r->matched;

    if ((r->nth && k != r->nth) || (r->every && k % r->every) ||
        (r->max && r->fired >= r->max) ||
        (r->prob && fault_unit(f) >= r->prob)) {
        return false;
    }
    r->fired++;
    return true;
}

/* Arm @t for @when unless it is already due earlier */
static void fault_timer_arm(QEMUTimer *t, int64_t when)
{
    if (!timer_pending(t) || when < (int64_t)timer_expire_time_ns(t)) {
        timer_mod(t, when);
    }
}

static bool fault_is_data(const ChimneyPending *pe)
{
    return pe->type == CHIMNEY_CQE_SEND || pe->type == CHIMNEY_CQE_DISCONNECT ||
           pe->type == CHIMNEY_CQE_RECV;
}

/*
 * A completion of @conn became ready: decide what the rules do to it.
 * A failed request fails the requests after it on the connection too,
 * and the connection is reset or stopped as that status means.
 */
void chimney_fault_decide(ChimneyState *s, ChimneyConn *conn,
                          ChimneyPending *pe)
{
    ChimneyFault *f = &s->fault;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    int64_t release = now;

    pe->seq = ++f->seq;
    if (conn->fault_status && fault_is_data(pe) &&
        pe->status == CHIMNEY_ST_SUCCESS) {
        pe->status = conn->fault_status;
        pe->bytes = 0;
    }
    if (!f->nrules) {
        pe->release_ns = MAX(release, chimney_conn_last_release(conn));
        return;
    }
    f->stats.seen++;
    for (int i = 0; i < f->nrules; i++) {
        ChimneyFaultRule *r = &f->rules[i];
        int64_t d;

        if (!fault_matches(r, conn, pe) || !fault_fires(f, r)) {
            continue;
        }
        switch (r->action) {
        case CHIMNEY_FA_DELAY:
            d = fault_sample(f, r);
            release = MAX(release, fault_deadline(now, d));
            f->stats.delayed++;
            trace_chimney_fault(conn->index, pe->type, "delay", d);
            break;
        case CHIMNEY_FA_REORDER:
            d = (int64_t)(fault_unit(f) * r->a_ns);
            release = MAX(release, fault_deadline(now, d));
            f->stats.reordered++;
            trace_chimney_fault(conn->index, pe->type, "reorder", d);
            break;
        case CHIMNEY_FA_HOLD:
            pe->hold = true;
            f->stats.held++;
            trace_chimney_fault(conn->index, pe->type, "hold", 0);
            break;
        case CHIMNEY_FA_FAIL:
            if (!fault_is_data(pe) || pe->status != CHIMNEY_ST_SUCCESS) {
                break;
            }
            pe->status = r->fail_status;
            pe->bytes = r->fail_bytes < 0 ? 0 :
                        MIN(r->fail_bytes, pe->bytes ? pe->bytes - 1 : 0);
            conn->fault_status = r->fail_status;
            conn->fault_consequence = true;
            f->stats.failed++;
            trace_chimney_fault(conn->index, pe->type, "fail", pe->status);
            break;
        case CHIMNEY_FA_COALESCE:
            pe->coalesce = true;
            pe->coalesce_gen = f->coalesce_gen;
            if (!f->coalesce_waiting++ && r->a_ns) {
                f->coalesce_deadline = fault_deadline(now, r->a_ns);
                fault_timer_arm(f->timer, f->coalesce_deadline);
            }
            if (f->coalesce_waiting >= r->count) {
                f->coalesce_gen++;
                f->coalesce_waiting = 0;
                f->coalesce_deadline = -1;
            }
            f->stats.coalesced++;
            trace_chimney_fault(conn->index, pe->type, "coalesce", r->count);
            break;
        case CHIMNEY_FA_IRQ_DELAY:
            pe->irq = CHIMNEY_FAULT_IRQ_DELAY;
            pe->irq_delay_ns = r->a_ns;
            break;
        case CHIMNEY_FA_IRQ_DROP:
            pe->irq = CHIMNEY_FAULT_IRQ_DROP;
            break;
        }
    }
    /* Never before the completion ahead of it on the connection */
    pe->release_ns = MAX(release, chimney_conn_last_release(conn));
    if (conn->fault_consequence) {
        chimney_schedule(s);
    }
}

/* May the completion at the head of @conn's queue be written now? */
bool chimney_fault_ready(ChimneyState *s, ChimneyConn *conn,
                         const ChimneyPending *pe)
{
    ChimneyFault *f = &s->fault;

    if (pe->hold) {
        return false;
    }
    if (pe->release_ns > qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL)) {
        fault_timer_arm(f->timer, pe->release_ns);
        return false;
    }
    return !pe->coalesce || pe->coalesce_gen < f->coalesce_gen;
}

/* After the entry was written with its interrupt held back */
void chimney_fault_posted(ChimneyState *s, ChimneyConn *conn,
                          const ChimneyPending *pe)
{
    ChimneyFault *f = &s->fault;
    uint32_t cq = chimney_conn_cq(conn);
    int64_t due;

    if (pe->hold_released) {
        f->stats.released++;
    }
    switch (pe->irq) {
    case CHIMNEY_FAULT_IRQ_DELAY:
        due = fault_deadline(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL),
                             pe->irq_delay_ns);
        if (f->irq_due[cq] < 0 || due < f->irq_due[cq]) {
            f->irq_due[cq] = due;
        }
        fault_timer_arm(f->irq_timer, due);
        f->stats.irq_delayed++;
        trace_chimney_fault(conn->index, pe->type, "irq-delay",
                            pe->irq_delay_ns);
        break;
    case CHIMNEY_FAULT_IRQ_DROP:
        /* Written, never signalled: the PBA shows it pending */
        chimney_cq_mark_pending(s, cq);
        f->stats.irq_dropped++;
        trace_chimney_fault(conn->index, pe->type, "irq-drop", 0);
        break;
    }
}

/* --- time and release --- */

static void chimney_fault_timer_cb(void *opaque)
{
    ChimneyState *s = opaque;

    chimney_schedule(s);
}

/*
 * Bottom half: the end of a coalescing period, and late interrupts.  The
 * completions that wait for a rule are flushed by their connections
 * (chimney_conn_flush_waiting).
 */
void chimney_fault_work(ChimneyState *s)
{
    ChimneyFault *f = &s->fault;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    if (f->coalesce_waiting && f->coalesce_deadline >= 0 &&
        now >= f->coalesce_deadline) {
        f->coalesce_gen++;
        f->coalesce_waiting = 0;
        f->coalesce_deadline = -1;
    }
    for (uint32_t cq = 0; cq < s->num_cqs; cq++) {
        if (f->irq_due[cq] >= 0 && f->irq_due[cq] <= now) {
            f->irq_due[cq] = -1;
            chimney_cq_raise(s, cq);
        } else if (f->irq_due[cq] >= 0) {
            fault_timer_arm(f->irq_timer, f->irq_due[cq]);
        }
    }
    if (f->coalesce_waiting && f->coalesce_deadline >= 0) {
        fault_timer_arm(f->timer, f->coalesce_deadline);
    }
}

/* --- control --- */

static void fault_reseed(ChimneyFault *f)
{
    f->rng = f->seed;
    for (int i = 0; i < f->nrules; i++) {
        f->rules[i].matched = 0;
        f->rules[i].fired = 0;
    }
}

/* New rules replace the old ones; a text that does not parse changes none */
bool chimney_fault_set_rules(ChimneyFault *f, const char *text, Error **errp)
{
    if (!chimney_fault_parse(text, f->rules, &f->nrules, errp)) {
        return false;
    }
    g_free(f->text);
    f->text = g_strdup(text);
    fault_reseed(f);
    return true;
}

void chimney_fault_set_seed(ChimneyFault *f, uint64_t seed)
{
    f->seed = seed;
    fault_reseed(f);
}

void chimney_fault_init(ChimneyState *s)
{
    ChimneyFault *f = &s->fault;

    f->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, chimney_fault_timer_cb, s);
    f->irq_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, chimney_fault_timer_cb,
                                s);
    chimney_fault_reset(s);
}

/* Reset: pending decisions go with the connections; the rules stay. */
void chimney_fault_reset(ChimneyState *s)
{
    ChimneyFault *f = &s->fault;

    timer_del(f->timer);
    timer_del(f->irq_timer);
    for (int i = 0; i < ARRAY_SIZE(f->irq_due); i++) {
        f->irq_due[i] = -1;
    }
    f->coalesce_waiting = 0;
    f->coalesce_deadline = -1;
    f->seq = 0;
    fault_reseed(f);
}

void chimney_fault_exit(ChimneyState *s)
{
    timer_free(s->fault.timer);
    timer_free(s->fault.irq_timer);
}

/*
 * The rule text belongs to the object, not to its realized life: it is
 * set before realize (-device, -global) and by objects that are never
 * realized (device_add that fails, property introspection).
 */
void chimney_fault_finalize(ChimneyState *s)
{
    g_free(s->fault.text);
    s->fault.text = NULL;
}

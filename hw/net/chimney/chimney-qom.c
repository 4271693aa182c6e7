/*
 * chimney-nic: the run-time QOM properties of the front
 *
 * Counters, per-connection TCP statistics and the fault-injection
 * controls, read and set over QMP (qom-get / qom-set) or on -device.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/net/chimney/chimney.h"

/* Getter of a read-only uint64 counter property; @opaque points at it */
static void chimney_qom_get_counter(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    uint64_t value = *(uint64_t *)opaque;

    visit_type_uint64(v, name, &value, errp);
}

/* One line of TCP counters per offloaded connection */
static char *chimney_qom_get_conn_stats(Object *obj, Error **errp)
{
    ChimneyState *s = CHIMNEY_NIC(obj);

    if (!s->offload.conns) {
        return g_strdup("");
    }
    return chimney_conn_stats(s);
}

/* Bytes the live connections hold; @opaque non-NULL: their arrays only */
static void chimney_qom_get_conn_bytes(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    uint64_t value = chimney_conn_bytes(CHIMNEY_NIC(obj), opaque != NULL);

    visit_type_uint64(v, name, &value, errp);
}

static char *chimney_qom_get_fault_rules(Object *obj, Error **errp)
{
    return g_strdup(CHIMNEY_NIC(obj)->fault.text ?: "");
}

static void chimney_qom_set_fault_rules(Object *obj, const char *value,
                                        Error **errp)
{
    chimney_fault_set_rules(&CHIMNEY_NIC(obj)->fault, value, errp);
}

/* "x-fault-release": all, one, or conn=N */
static void chimney_qom_set_fault_release(Object *obj, const char *value,
                                          Error **errp)
{
    ChimneyState *s = CHIMNEY_NIC(obj);
    uint64_t index;

    if (!DEVICE(obj)->realized) {
        error_setg(errp, "chimney-nic: nothing to release before realize");
        return;
    }
    if (g_str_has_prefix(value, "conn=")) {
        if (qemu_strtou64(value + 5, NULL, 10, &index) ||
            index >= s->max_conns) {
            error_setg(errp, "chimney-nic: bad connection in '%s'", value);
            return;
        }
        chimney_conn_release_held(s, false, index);
    } else if (!strcmp(value, "all")) {
        chimney_conn_release_held(s, false, -1);
    } else if (!strcmp(value, "one")) {
        chimney_conn_release_held(s, true, -1);
    } else {
        error_setg(errp, "chimney-nic: release 'all', 'one' or 'conn=N', "
                   "not '%s'", value);
    }
}

static void chimney_qom_get_fault_seed(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    visit_type_uint64(v, name, &CHIMNEY_NIC(obj)->fault.seed, errp);
}

static void chimney_qom_set_fault_seed(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    uint64_t seed;

    if (visit_type_uint64(v, name, &seed, errp)) {
        chimney_fault_set_seed(&CHIMNEY_NIC(obj)->fault, seed);
    }
}

void chimney_qom_add_properties(Object *obj)
{
    ChimneyState *s = CHIMNEY_NIC(obj);
    ChimneyFaultStats *fst = &s->fault.stats;
    const struct {
        const char *name;
        uint64_t *value;
    } counters[] = {
        { "x-stat-tx-frames", &s->stats.tx_frames },
        { "x-stat-rx-frames", &s->stats.rx_frames },
        { "x-stat-rx-dropped", &s->stats.rx_dropped },
        { "x-stat-stale-doorbells", &s->stats.stale_doorbells },
        { "x-stat-to-host", &s->stats.to_host },
        { "x-stat-indications", &s->stats.indications },
        { "x-stat-forwarded", &s->stats.forwarded },
        { "x-stat-rx-backlogged", &s->stats.rx_backlogged },
        { "x-stat-rx-backlog-dropped", &s->stats.rx_backlog_dropped },
        { "x-stat-rx-vlan-dropped", &s->stats.rx_vlan_dropped },
        { "x-stat-tx-held", &s->stats.tx_held },
        { "x-fault-seen", &fst->seen },
        { "x-fault-delayed", &fst->delayed },
        { "x-fault-held", &fst->held },
        { "x-fault-released", &fst->released },
        { "x-fault-failed", &fst->failed },
        { "x-fault-reordered", &fst->reordered },
        { "x-fault-coalesced", &fst->coalesced },
        { "x-fault-irq-delayed", &fst->irq_delayed },
        { "x-fault-irq-dropped", &fst->irq_dropped },
    };

    for (int i = 0; i < ARRAY_SIZE(counters); i++) {
        object_property_add(obj, counters[i].name, "uint64",
                            chimney_qom_get_counter, NULL, NULL,
                            counters[i].value);
    }
    object_property_add_str(obj, "x-conn-stats", chimney_qom_get_conn_stats,
                            NULL);
    object_property_add(obj, "x-stat-conn-bytes", "uint64",
                        chimney_qom_get_conn_bytes, NULL, NULL, NULL);
    object_property_add(obj, "x-stat-conn-queue-bytes", "uint64",
                        chimney_qom_get_conn_bytes, NULL, NULL, obj);
    object_property_add_str(obj, "x-fault-rules", chimney_qom_get_fault_rules,
                            chimney_qom_set_fault_rules);
    object_property_add_str(obj, "x-fault-release", NULL,
                            chimney_qom_set_fault_release);
    object_property_add(obj, "x-fault-seed", "uint64",
                        chimney_qom_get_fault_seed,
                        chimney_qom_set_fault_seed, NULL, NULL);
}

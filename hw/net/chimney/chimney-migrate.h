/*
 * chimney-nic: migration of offloaded objects
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_MIGRATE_H
#define HW_NET_CHIMNEY_MIGRATE_H

#include "hw/net/chimney/chimney-conn.h"

#define CHIMNEY_MIG_PEND_EXTRA  8   /* as chimney-offload.c allocates */
#define CHIMNEY_MIG_IP_ID_BASE  0x8000

/* What the stream's layout (chimney-migrate.c) and its checks share */
void chimney_migrate_stage_clear(ChimneyMigStage *m);
uint32_t chimney_migrate_rbuf_used(const ChimneyTcpConn *t);
/* The device's flags from the stream's forms */
void chimney_migrate_flags_load(ChimneyConn *c, const ChimneyMigFlags *m);
/* The engine's flags and rare counters from the stream's forms */
void chimney_migrate_tcp_load(ChimneyTcpConn *t, const ChimneyMigTcp *m);

#endif /* HW_NET_CHIMNEY_MIGRATE_H */

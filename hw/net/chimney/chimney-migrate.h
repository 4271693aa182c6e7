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

#endif /* HW_NET_CHIMNEY_MIGRATE_H */

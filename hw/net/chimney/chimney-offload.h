/*
 * chimney-nic: the offload admin commands
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_OFFLOAD_H
#define HW_NET_CHIMNEY_OFFLOAD_H

#include "hw/net/chimney/chimney-conn.h"

void chimney_offload_init(ChimneyState *s);
void chimney_offload_reset(ChimneyState *s);
void chimney_offload_exit(ChimneyState *s);
void chimney_offload_set_params(ChimneyState *s);
void chimney_offload_route(ChimneyState *s, uint32_t id);
ChimneyConn *chimney_offload_cmd_target(ChimneyState *s, uint8_t opcode,
                                        uint32_t id, const uint32_t *p);
uint8_t chimney_offload_cmd(ChimneyState *s, const ChimneyAdminCmd *cmd,
                            uint32_t id, uint64_t addr, const uint32_t *p,
                            ChimneyConn **target);

#endif /* HW_NET_CHIMNEY_OFFLOAD_H */

/*
 * chimney-nic: ICMPv6 Packet Too Big for offloaded paths
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_PMTU_H
#define HW_NET_CHIMNEY_PMTU_H

#include "hw/net/chimney/chimney-conn.h"

void chimney_pmtu_input(ChimneyState *s, const uint8_t *buf, size_t size);
void chimney_pmtu_set(ChimneyState *s, uint32_t path, uint32_t mtu);
void chimney_pmtu_post_events(ChimneyState *s);
void chimney_pmtu_count_events(ChimneyState *s);

#endif /* HW_NET_CHIMNEY_PMTU_H */
